"""Keeps the platform's view of jobs and the schedulers' in step; safe to run in many processes.

It is the platform's one background loop: each pass also opens review for proposals past their
cut-off and starts and ends allocations. Then (1) it hands admitted jobs to their executor,
looking first whether the scheduler already has them (a worker that died between submit and
commit must not submit twice); (2) cancels what owners asked to stop; (3) pre-empts lower
classes for jobs whose class pre-empts (the local executor; Slurm does it itself through QOS);
(4) polls the schedulers and records states, times, exit codes and GPU-hours; (5) accounts usage
per allocation and warns at 75, 90 and 100 %. Rows are claimed with leases (`FOR UPDATE SKIP
LOCKED` on PostgreSQL), so two workers never handle the same job at once; a scheduler that does
not answer is skipped, never given up on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fabriek.access.enums import AllocationState
from fabriek.access.models import Allocation, AllocationSite
from fabriek.access.service import AccessConfig, roll_allocation_states
from fabriek.access.tasks import release_due_cutoffs
from fabriek.audit.service import record
from fabriek.compliance import ledger as act_ledger
from fabriek.compliance.ledger_gpus import peak_flops_now
from fabriek.compute import placing
from fabriek.compute import policy as pol
from fabriek.compute.enums import ExternalState, JobState
from fabriek.compute.executors.base import (
    Executor,
    ExecutorError,
    ExecutorJob,
    HeldHandOver,
    JobRejected,
    JobSnapshot,
    Provisioner,
)
from fabriek.compute.executors.staging import StageDataset, StagingFailed
from fabriek.compute.models import Job, SiteHealth, UsageWarning
from fabriek.compute.registry import Executors
from fabriek.compute.script import build_script
from fabriek.compute.spec import JobSpec
from fabriek.datalab import staging as datalab_staging
from fabriek.datalab.service import DatalabConfig
from fabriek.datalab.tasks import sweep_expired_grants
from fabriek.db.session import Database
from fabriek.errors import PolicyRefusal, Unavailable
from fabriek.federation.placement import Demand
from fabriek.identity.models import User
from fabriek.identity.principal import SYSTEM
from fabriek.identity.service import load_principal
from fabriek.kit.clock import utcnow

log = logging.getLogger("fabriek.reconciler")

# A refusal can pass: a new Slurm account not yet known to slurmctld, or nodes still coming
# back after slurmctld restarted ("Required node not available"). Retry with a doubling
# pause (2, 4, 8, 16, 32 s) before a job is failed: about a minute of refusals.
MAX_SUBMIT_ATTEMPTS = 6
RETRY_AFTER = timedelta(seconds=2)
HEALTH_REFRESH = timedelta(seconds=60)  # rewrite an unchanged site_health row this often
FINAL = {ExternalState.completed: JobState.completed, ExternalState.failed: JobState.failed,
         ExternalState.cancelled: JobState.cancelled, ExternalState.timeout: JobState.timeout}


@dataclass
class PassReport:
    submitted: list[int] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)  # found at the scheduler, not resubmitted
    changed: list[int] = field(default_factory=list)
    preempted: list[int] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    released_for_review: list[int] = field(default_factory=list)  # proposals past a cut-off
    grants_expired: int = 0  # data-lab grants recorded as expired in this pass


@dataclass(frozen=True)
class _Staging:
    """A job's datasets as cleared at hand-over: what to place, and what to log once placed."""

    owner_id: int
    cleared: list[datalab_staging.Cleared]
    datasets: tuple[StageDataset, ...]


def account_of(allocation_id: int) -> str:
    """The scheduler account of an allocation (Slurm lower-cases account names)."""
    return f"fab-a{allocation_id}"


def executor_job(job: Job, config: AccessConfig) -> ExecutorJob:
    spec = JobSpec.model_validate(job.spec)
    return ExecutorJob(
        job_id=job.id, name=job.name, script=build_script(spec, job_id=job.id), gpus=job.gpus,
        nodes=spec.nodes, cpus=spec.cpus, memory_mb=spec.memory_mb,
        time_limit_minutes=job.time_limit_minutes, env=dict(spec.env), partition=job.partition,
        account=account_of(job.allocation_id), priority_rank=job.priority_rank, image=spec.image,
        qos=config.policy.modes.priority(job.priority_class).slurm_qos)


def _audit(session: Session, job: Job, action: str, previous: JobState | None, reason: str = "",
           data: dict | None = None) -> None:  # type: ignore[type-arg]
    record(session, SYSTEM, action, subject_type="job", subject_id=job.id,
           organisation_id=job.organisation_id,
           from_state=previous.value if previous else None, to_state=job.state.value,
           reason=reason, data=data)


def apply_snapshot(session: Session, job: Job, snap: JobSnapshot, now: datetime) -> bool:
    """Bring one job row in line with what its scheduler says; True if anything changed."""
    previous = job.state
    if snap.state in FINAL:
        job.state = FINAL[snap.state]
        job.started_at = job.started_at or snap.started_at
        job.ended_at = snap.ended_at or now
        job.exit_code, job.signal = snap.exit_code, snap.signal
        job.reason = snap.reason or job.reason
        job.gpu_hours_used = job.gpu_hours_prior + pol.run_gpu_hours(
            job.gpus, job.started_at, job.ended_at)
    elif snap.state is ExternalState.running:
        job.state = JobState.running
        job.started_at = snap.started_at or job.started_at or now
        job.gpu_hours_used = job.gpu_hours_prior + pol.run_gpu_hours(job.gpus, job.started_at, now)
    else:  # queued, or pre-empted and waiting to run again
        if previous is JobState.running:
            run = pol.run_gpu_hours(job.gpus, job.started_at, now)
            job.gpu_hours_prior += run
            job.gpu_hours_used = job.gpu_hours_prior
            job.preemptions += 1
            job.last_preempted_at, job.started_at = now, None
            job.state = JobState.queued
            job.reason = "pre-empted by a higher-priority job; it will start again"
            _audit(session, job, "job.preempted", previous, job.reason,
                   {"gpu_hours_of_interrupted_run": round(run, 6)})
            return True
        job.state = JobState.queued
        job.reason = snap.reason or job.reason
    if job.state is not previous:
        _audit(session, job, f"job.{job.state.value}", previous, job.reason,
               {"exit_code": job.exit_code, "signal": job.signal} if job.state in FINAL.values()
               else None)
        return True
    return False


class Reconciler:
    def __init__(self, db: Database, executors: Executors, config: AccessConfig, *,
                 worker_id: str | None = None, lease_seconds: float = 120, batch: int = 100,
                 datalab: DatalabConfig | None = None) -> None:
        self.db, self.executors, self.config = db, executors, config
        self.datalab = datalab  # where staged datasets come from (the blob store)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self._wake = threading.Event()
        self._health_seen: dict[tuple[str, str], tuple[bool, datetime]] = {}

    # -- the loop ------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the loop must outlive any one bad pass
                log.exception("reconciler pass failed")
            self._wake.wait(interval)
            self._wake.clear()

    def run_once(self, now: datetime | None = None) -> PassReport:
        report = PassReport()
        report.released_for_review = release_due_cutoffs(self.db, self.config, now)
        report.grants_expired = sweep_expired_grants(self.db, now)
        self.probe_sites(report, now)
        self.sync_allocations(report, now)
        self.submit_pending(report, now)
        for key, executor in self.executors.all():
            self.sync_partition(key, executor, report, now)
        return report

    # -- sites: who answers ------------------------------------------------------------------

    def probe_sites(self, report: PassReport, now: datetime | None = None) -> None:
        """Ask every connected partition's scheduler whether it answers, and record it."""
        for key, executor in self.executors.all():
            try:
                ok, error = executor.ping(), ""
            except Exception as exc:  # a probe must never stop the pass
                ok, error = False, str(exc)
            self._health(key, ok, error or ("" if ok else "no answer to ping"), now)
            if not ok:
                report.unavailable.append(f"{key[0]}/{key[1]}")

    def _health(self, key: tuple[str, str], ok: bool, error: str,
                now: datetime | None = None) -> None:
        now = now or utcnow()
        last = self._health_seen.get(key)
        if last is not None and last[0] == ok and now - last[1] < HEALTH_REFRESH:
            return  # nothing new to write (a write per partition per pass would be noise)
        self._health_seen[key] = (ok, now)
        with self.db.unit_of_work() as s:
            # Several workers probe at once: create the row if missing, then lock it.
            insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            s.execute(insert(SiteHealth).values(
                factory=key[0], partition=key[1], reachable=ok, checked_at=now, since=now,
                last_error=error).on_conflict_do_nothing())
            row = s.execute(select(SiteHealth).where(
                SiteHealth.factory == key[0], SiteHealth.partition == key[1])
                .with_for_update()).scalar_one()
            changed = row.reachable != ok
            if changed:
                row.reachable, row.since = ok, now
            row.checked_at, row.last_error = now, error
        if changed:
            log.warning("%s/%s %s", *key, "answers again" if ok else f"does not answer: {error}")

    def _reroute(self, job_id: int, dead: tuple[str, str], now: datetime) -> bool:
        """Move a job not yet handed over away from a site that does not answer, to the best
        other site of its allocation (MultiKueue-style: the next site asked). True if moved."""
        with self.db.unit_of_work() as s:
            job = s.get(Job, job_id, with_for_update=True)
            if job is None or job.state is not JobState.pending_submit or job.external_id:
                return False
            allocation = s.get(Allocation, job.allocation_id)
            assert allocation is not None
            demand = Demand(gpus=job.gpus, nodes=JobSpec.model_validate(job.spec).nodes,
                            priority_rank=job.priority_rank)
            choices, _ = placing.place(s, self.executors,
                                       placing.allocation_sites(s, allocation), demand, now,
                                       exclude={dead}, ignore_job=job.id)
            choices = [c for c in choices if c.key != dead and "does not answer" not in c.reason]
            if not choices:
                return False
            target = choices[0].key
            job.factory, job.partition = target
            job.executor = self.executors.partitions[target].executor
            job.lease_owner, job.lease_until = None, None
            job.reason = f"moved from {dead[0]}/{dead[1]}, which does not answer"
            _audit(s, job, "job.rerouted", job.state, job.reason,
                   {"from": f"{dead[0]}/{dead[1]}", "to": f"{target[0]}/{target[1]}",
                    "placement": choices[0].reason})
            return True

    # -- (0) allocations: start, end, and the site's set-up ---------------------------------

    def sync_allocations(self, report: PassReport, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.db.unit_of_work() as s:
            roll_allocation_states(s, now=now)
        for (factory, partition), executor in self.executors.all():
            if not isinstance(executor, Provisioner):
                continue
            with self.db.unit_of_work(readonly=True) as s:
                here = (AllocationSite.factory == factory, AllocationSite.partition == partition)
                pairs = select(AllocationSite, Allocation).join(
                    Allocation, Allocation.id == AllocationSite.allocation_id)
                to_open = s.execute(pairs.where(
                    *here, Allocation.state == AllocationState.active,
                    AllocationSite.provisioned_at.is_(None))).all()
                to_close = s.execute(pairs.where(
                    *here, Allocation.state.in_((AllocationState.ended, AllocationState.revoked)),
                    AllocationSite.provisioned_at.is_not(None),
                    AllocationSite.closed_at.is_(None))).all()
            try:
                for site, a in to_open:
                    qos = self.config.policy.modes.priority(a.priority_class).slurm_qos
                    executor.provision(account_of(a.id), a.gpu_hours * 60, [qos])
                    self._mark(site.id, "provisioned_at", "allocation.provisioned", now)
                for site, a in to_close:
                    executor.deprovision(account_of(a.id))
                    self._mark(site.id, "closed_at", "allocation.closed-at-site", now)
            except ExecutorError as exc:
                log.warning("%s/%s: provisioning failed: %s", factory, partition, exc)
                report.unavailable.append(f"{factory}/{partition}")

    def _mark(self, site_id: int, column: str, action: str, now: datetime) -> None:
        with self.db.unit_of_work() as s:
            site = s.get(AllocationSite, site_id)
            assert site is not None
            allocation = s.get(Allocation, site.allocation_id)
            assert allocation is not None
            setattr(site, column, now)
            record(s, SYSTEM, action, subject_type="allocation", subject_id=allocation.id,
                   organisation_id=allocation.organisation_id,
                   data={"account": account_of(allocation.id),
                         "site": f"{site.factory}/{site.partition}"})

    # -- (1) submission ---------------------------------------------------------------------

    def _claim(self, now: datetime) -> list[int]:
        with self.db.unit_of_work() as s:
            rows = s.execute(
                select(Job).where(Job.state == JobState.pending_submit,
                                  or_(Job.lease_until.is_(None), Job.lease_until < now))
                .order_by(Job.priority_rank.desc(), Job.id).limit(self.batch)
                .with_for_update(skip_locked=True)).scalars().all()
            for job in rows:
                job.lease_owner, job.lease_until = self.worker_id, now + self.lease
                job.submit_attempts += 1
            return [j.id for j in rows]

    def submit_pending(self, report: PassReport, now: datetime | None = None) -> None:
        now = now or utcnow()
        reroute: list[tuple[int, tuple[str, str]]] = []
        unstaged: list[tuple[int, Executor]] = []
        for job_id in self._claim(now):
            staging: _Staging | None = None
            with self.db.unit_of_work() as s:
                job = s.get(Job, job_id)
                assert job is not None
                if job.cancel_requested:
                    previous, job.state = job.state, JobState.cancelled
                    job.ended_at, job.reason, job.lease_owner = now, "cancelled before start", None
                    _audit(s, job, "job.cancelled", previous, job.reason)
                    continue
                key = (job.factory, job.partition)
                try:
                    executor = self.executors.get(*key)
                except Unavailable as exc:
                    job.lease_owner, job.lease_until, job.reason = None, None, exc.detail
                    continue
                if key in placing.unreachable(s, [key]):
                    job.lease_owner, job.lease_until = None, None
                    job.reason = "waiting: the site's scheduler does not answer"
                    reroute.append((job_id, key))
                    continue
                site = s.execute(select(AllocationSite).where(
                    AllocationSite.allocation_id == job.allocation_id,
                    AllocationSite.factory == key[0], AllocationSite.partition == key[1])
                ).scalar_one_or_none()
                if isinstance(executor, Provisioner) and (site is None
                                                          or site.provisioned_at is None):
                    job.lease_owner, job.lease_until = None, None
                    job.reason = "waiting for the site to set up the allocation's account"
                    continue
                request = executor_job(job, self.config)
                if job.spec.get("datasets"):
                    try:
                        staging = self._clear_datasets(s, job, now)
                    except PolicyRefusal as exc:
                        self._fail(s, job, f"its datasets were not staged: {exc.detail}", now)
                        unstaged.append((job_id, executor))
                        continue
                    request = dataclasses.replace(request, datasets=staging.datasets)
            self._hand_over(job_id, executor, request, report, now, staging)
        for job_id, executor in unstaged:
            self._withdraw(job_id, executor)
        for job_id, dead in reroute:
            self._reroute(job_id, dead, now)

    # -- datasets next to the job -------------------------------------------------------------

    def _clear_datasets(self, s: Session, job: Job, now: datetime) -> _Staging:
        """Ask the data lab again, at hand-over, whether the job's project may read each of
        its datasets (a grant may have expired or been revoked since submission), and which
        files to place. Raises PolicyRefusal."""
        if self.datalab is None:
            raise PolicyRefusal("this worker has no data-lab store to stage datasets from",
                                rule="datalab.staging")
        user = s.get(User, job.owner_id)
        assert user is not None
        owner = load_principal(s, user)
        cleared = datalab_staging.clear(s, owner, allocation_id=job.allocation_id,
                                        slugs=list(job.spec["datasets"]), now=now)
        return _Staging(user.id, cleared, datalab_staging.plan(s, self.datalab, cleared))

    def _fail(self, s: Session, job: Job, reason: str, now: datetime) -> None:
        """The job ends before it reaches its scheduler (it never ran)."""
        previous, job.state = job.state, JobState.failed
        job.ended_at, job.reason = now, reason
        job.lease_owner, job.lease_until = None, None
        _audit(s, job, "job.failed", previous, reason)

    def _withdraw(self, job_id: int, executor: Executor) -> None:
        """A job failed before hand-over may still sit at the scheduler, if an earlier worker
        handed it over and died before recording it: it must not run there either."""
        try:
            found = executor.find(job_id)
            if found is not None and found.state in (ExternalState.queued,
                                                     ExternalState.running):
                executor.cancel(found.external_id)
        except ExecutorError as exc:
            log.warning("job %s: could not withdraw it from its scheduler: %s", job_id, exc)

    def _hand_over(self, job_id: int, executor: Executor, request: ExecutorJob,
                   report: PassReport, now: datetime, staging: _Staging | None = None) -> None:
        adopted = False
        try:
            found = executor.find(job_id)
            if found is not None:
                external_id, adopted = found.external_id, True
                if request.datasets and isinstance(executor, HeldHandOver):
                    # A worker stopped between a held submission and its release.
                    executor.finish_hand_over(request, found)
            else:
                external_id = executor.submit(request)
        except StagingFailed as exc:  # a missing or altered file: retrying will not help
            with self.db.unit_of_work() as s:
                job = s.get(Job, job_id)
                assert job is not None
                self._fail(s, job, f"its datasets could not be staged: {exc}", now)
            return
        except JobRejected as exc:
            if executor.ping():
                self._refused(job_id, exc, now)
            else:  # an answer from a scheduler that is half down is no verdict
                self._unavailable(job_id, executor, exc, report)
            return
        except ExecutorError as exc:  # no verdict on the job: the scheduler side failed
            self._unavailable(job_id, executor, exc, report)
            key = self._site_of(job_id)
            if key is not None:
                self._health(key, False, str(exc), now)
                self._reroute(job_id, key, now)
            return
        with self.db.unit_of_work() as s:
            job = s.get(Job, job_id)
            assert job is not None
            previous = job.state
            job.external_id, job.state, job.queued_at = external_id, JobState.queued, now
            job.lease_owner, job.lease_until, job.reason = None, None, ""
            _audit(s, job, "job.queued", previous, data={"external_id": external_id,
                                                         "adopted": adopted})
            if staging is not None:  # the data lab's read log: one read per dataset
                user = s.get(User, staging.owner_id)
                assert user is not None
                owner = load_principal(s, user)
                datalab_staging.record_staged(
                    s, owner, staging.cleared, staging.datasets, job_id=job.id,
                    organisation_id=job.organisation_id, now=now,
                    detail={"site": f"{job.factory}/{job.partition}",
                            "external_id": external_id})
        (report.adopted if adopted else report.submitted).append(job_id)

    def _site_of(self, job_id: int) -> tuple[str, str] | None:
        with self.db.unit_of_work(readonly=True) as s:
            job = s.get(Job, job_id)
            return (job.factory, job.partition) if job is not None else None

    def _unavailable(self, job_id: int, executor: Executor, exc: Exception,
                     report: PassReport) -> None:
        with self.db.unit_of_work() as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.lease_owner, job.lease_until = None, None
            job.submit_attempts = max(job.submit_attempts - 1, 0)  # attempts count refusals
            job.reason = f"scheduler unavailable, will retry: {exc}"
        report.unavailable.append(executor.name)

    def _refused(self, job_id: int, exc: Exception, now: datetime) -> None:
        with self.db.unit_of_work() as s:
            job = s.get(Job, job_id)
            assert job is not None
            if job.submit_attempts < MAX_SUBMIT_ATTEMPTS:
                # Keep the lease for the pause, then try again (see MAX_SUBMIT_ATTEMPTS).
                job.lease_until = now + RETRY_AFTER * 2 ** (job.submit_attempts - 1)
                job.reason = (f"refused by the scheduler (attempt {job.submit_attempts}), "
                              f"will retry: {exc}")
                return
            previous, job.state = job.state, JobState.failed
            job.ended_at, job.lease_owner = now, None
            job.reason = f"refused by the scheduler: {exc}"
            _audit(s, job, "job.failed", previous, job.reason)

    # -- (2)-(5) one partition ----------------------------------------------------------------

    def sync_partition(self, key: tuple[str, str], executor: Executor, report: PassReport,
                       now: datetime | None = None) -> None:
        """Poll one partition's scheduler and record what changed.

        The scheduler is asked outside any write transaction (it may be slow, or start
        processes), so API requests are never held up behind it; the answers are then applied
        in one short transaction to rows locked with SKIP LOCKED.
        """
        factory, partition = key
        with self.db.unit_of_work(readonly=True) as s:
            jobs = s.execute(
                select(Job).where(Job.factory == factory, Job.partition == partition,
                                  Job.external_id.is_not(None),
                                  Job.state.in_((JobState.queued, JobState.running)))
                .order_by(Job.id).limit(self.batch * 10)).scalars().all()
        if not jobs:
            return
        try:
            for job in jobs:
                if job.cancel_requested:
                    executor.cancel(job.external_id)  # type: ignore[arg-type]
            if executor.name == "local":
                report.preempted += self._preempt(key, executor, jobs)
            snapshots = executor.poll([j.external_id for j in jobs])  # type: ignore[misc]
            for job in jobs:
                if job.external_id not in snapshots:
                    found = executor.find(job.id)
                    snapshots[job.external_id] = found or JobSnapshot(  # type: ignore[index]
                        job.external_id or "", ExternalState.failed,
                        reason="the scheduler lost the job")
        except ExecutorError as exc:  # unavailable, or half down: ask again next pass
            log.warning("%s/%s: scheduler unavailable: %s", factory, partition, exc)
            report.unavailable.append(f"{factory}/{partition}")
            return
        now = now or utcnow()
        with self.db.unit_of_work() as s:
            rows = s.execute(select(Job).where(Job.id.in_([j.id for j in jobs]))
                             .with_for_update(skip_locked=True)).scalars().all()
            touched: set[int] = set()
            for job in rows:
                if job.state not in (JobState.queued, JobState.running):
                    continue  # another worker got there first
                if apply_snapshot(s, job, snapshots[job.external_id], now):  # type: ignore[index]
                    report.changed.append(job.id)
                touched.add(job.allocation_id)
            self._account(s, touched)

    def _preempt(self, key: tuple[str, str], executor: Executor,
                 jobs: Sequence[Job]) -> list[int]:
        """Requeue lower classes so a waiting job of a pre-empting class can start."""
        waiting = [j for j in jobs if j.state is JobState.queued
                   and self.config.policy.modes.priority(j.priority_class).preempts_lower]
        if not waiting:
            return []
        running = [j for j in jobs if j.state is JobState.running and j.started_at]
        free = self.executors.capacity_gpus(*key) - sum(j.gpus for j in running)
        victims: list[int] = []
        for job in sorted(waiting, key=lambda j: (-j.priority_rank, j.id)):
            chosen = pol.preemption_victims(
                incoming_rank=job.priority_rank, incoming_gpus=job.gpus, free_gpus=free,
                running=[pol.RunningJob(r.id, r.priority_rank, r.gpus, r.started_at)
                         for r in running if r.id not in victims])  # type: ignore[arg-type]
            if not chosen:
                continue
            for victim in (r for r in running if r.id in chosen):
                executor.requeue(victim.external_id)  # type: ignore[arg-type]
                victims.append(victim.id)
                free += victim.gpus
            free -= job.gpus
        return victims

    def _account(self, s: Session, allocation_ids: set[int]) -> None:
        for allocation_id in allocation_ids:
            allocation = s.get(Allocation, allocation_id)
            assert allocation is not None
            jobs = s.execute(select(Job.gpu_hours_used).where(
                Job.allocation_id == allocation_id)).scalars().all()
            before, after = allocation.gpu_hours_used, round(sum(jobs), 6)
            allocation.gpu_hours_used = after
            sent = s.execute(select(UsageWarning.threshold_percent).where(
                UsageWarning.allocation_id == allocation_id)).scalars().all()
            for threshold in pol.thresholds_crossed(allocation.gpu_hours, before, after, sent):
                message = (f"allocation {allocation_id} has used {threshold} % of its "
                           f"{allocation.gpu_hours:,} GPU-hours ({after:,.2f} used)"
                           + ("; it admits no new jobs" if threshold >= 100 else ""))
                s.add(UsageWarning(allocation_id=allocation_id,
                                   organisation_id=allocation.organisation_id,
                                   threshold_percent=threshold, gpu_hours_used=after,
                                   message=message))
                record(s, SYSTEM, "allocation.usage-warning", subject_type="allocation",
                       subject_id=allocation_id, organisation_id=allocation.organisation_id,
                       reason=message, data={"threshold_percent": threshold})
        # The AI Act compute ledger records the FLOP thresholds models crossed.
        act_ledger.refresh_allocations(s, allocation_ids,
                                       peak_flops_now(s))
