"""Use cases of the compute capability: the broker's admission, job queries, cancel, usage.

Jobs are admitted here in the caller's transaction (state pending-submit); the reconciler hands
them to the executor after commit, so nothing reaches a scheduler that was not recorded first.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fabriek.access import service as access
from fabriek.access.models import Allocation
from fabriek.access.service import AccessConfig
from fabriek.audit.models import AuditEvent
from fabriek.audit.schemas import AuditEventRead
from fabriek.audit.service import record
from fabriek.compliance import ledger as act_ledger
from fabriek.compliance.ledger_gpus import peak_flops_now
from fabriek.compute import placing
from fabriek.compute import policy as pol
from fabriek.compute.enums import JobState
from fabriek.compute.models import Job, UsageWarning
from fabriek.compute.registry import Executors
from fabriek.compute.schemas import AllocationUsage, JobRead, UsageWarningRead
from fabriek.compute.spec import JobSpec
from fabriek.datalab import staging as datalab_staging
from fabriek.errors import Conflict, InvalidTransition, NotFound, PolicyRefusal
from fabriek.federation import service as federation
from fabriek.federation.placement import Demand
from fabriek.identity.enums import Role
from fabriek.identity.models import Organisation
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow


def worst_case(job: Job) -> float:
    return job.gpu_hours_prior + job.gpus * job.time_limit_minutes / 60.0


# The same worst case in SQL, so a budget is two aggregate queries however many jobs there are.
WORST_CASE_SQL = Job.gpu_hours_prior + Job.gpus * Job.time_limit_minutes / 60.0


def budget_of(session: Session, allocation: Allocation) -> pol.Budget:
    final, active = JobState.final_states(), JobState.active_states()
    used_final, committed = session.execute(select(
        func.coalesce(func.sum(Job.gpu_hours_used).filter(Job.state.in_(final)), 0.0),
        func.coalesce(func.sum(WORST_CASE_SQL).filter(Job.state.in_(active)), 0.0),
    ).where(Job.allocation_id == allocation.id)).one()
    return pol.Budget(gpu_hours=allocation.gpu_hours, used_final=float(used_final),
                      committed=float(committed))


def submit_job(session: Session, principal: Principal, spec: JobSpec, *, config: AccessConfig,
               executors: Executors, now: datetime | None = None) -> Job:
    """Admit a job against its allocation's budget and queue it for the executor.

    Raises: NotFound, Forbidden, PolicyRefusal (budget, dates, partition size, a dataset the
    job's project may not read).
    """
    now = now or utcnow()
    allocation = access.allocation_for_charging(session, principal, spec.allocation_id)
    if spec.datasets:
        # Every dataset must exist and be readable for this allocation's project now; the
        # reconciler asks again at hand-over (a grant may expire or be revoked in between).
        datalab_staging.clear(session, principal, allocation_id=allocation.id,
                              slugs=spec.datasets, now=now)
    rank = access.priority_rank(config, allocation.priority_class)
    demand = Demand(gpus=spec.gpus, nodes=spec.nodes, priority_rank=rank)
    choices, refused = placing.place(session, executors, placing.allocation_sites(
        session, allocation), demand, now)
    if not choices:
        why = "; ".join(f"{f}/{p}: {reason}" for (f, p), reason in refused.items())
        raise PolicyRefusal(f"no site of the allocation can run this job ({why})",
                            rule="partition size" if "GPUs" in why else "placement",
                            sites={f"{f}/{p}": r for (f, p), r in refused.items()})
    factory, partition = choices[0].key
    budget = budget_of(session, allocation)
    verdict = pol.admit_job(
        worst_case_gpu_hours=spec.worst_case_gpu_hours, budget=budget,
        allocation_active=allocation.state.value in ("active", "scheduled"),
        start_on=allocation.start_on, end_on=allocation.end_on, today=now.date())
    if not verdict.admitted:
        raise PolicyRefusal(verdict.reason, rule="GPU-hour budget of the allocation",
                            gpu_hours_left=round(max(budget.left, 0), 4),
                            worst_case_gpu_hours=round(spec.worst_case_gpu_hours, 4))
    assert principal.user_id is not None
    # AI Act compute ledger: warn (never refuse) when the worst case would carry the model
    # over 10^23 or 10^25 FLOP; counted before this job is added to the model's active jobs.
    act_warnings = act_ledger.projected_warnings(
        session, organisation_id=allocation.organisation_id, model=spec.model, gpus=spec.gpus,
        time_limit_minutes=spec.time_limit_minutes, factory=factory, partition=partition,
        peak_flops=peak_flops_now(session))
    job = Job(organisation_id=allocation.organisation_id, owner_id=principal.user_id,
              allocation_id=allocation.id, name=spec.name, spec=spec.model_dump(mode="json"),
              gpus=spec.gpus, time_limit_minutes=spec.time_limit_minutes, model=spec.model,
              factory=factory, partition=partition,
              executor=executors.partitions[(factory, partition)].executor,
              priority_class=allocation.priority_class, priority_rank=rank,
              state=JobState.pending_submit, created_at=now)
    session.add(job)
    session.flush()
    record(session, principal, "job.submitted", subject_type="job", subject_id=job.id,
           organisation_id=job.organisation_id, to_state=job.state.value,
           data={"allocation_id": allocation.id, "gpus": spec.gpus,
                 "time_limit_minutes": spec.time_limit_minutes,
                 "worst_case_gpu_hours": spec.worst_case_gpu_hours,
                 "placed_at": f"{factory}/{partition}", "placement": choices[0].reason,
                 "not_placed_at": {f"{f}/{p}": r for (f, p), r in refused.items()}})
    job.act_warnings = act_warnings  # type: ignore[attr-defined]  # for this response only
    return job


def _visible(principal: Principal, job: Job) -> bool:
    return (principal.is_member(job.organisation_id) or principal.has(Role.access_officer)
            or principal.has(Role.factory_operator))


def get_job(session: Session, principal: Principal, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or not _visible(principal, job):
        raise NotFound(f"job {job_id} not found")
    return job


def list_jobs(session: Session, principal: Principal, *, state: JobState | None = None,
              allocation_id: int | None = None, organisation_id: int | None = None,
              after: int = 0, limit: int = 50, newest_first: bool = False) -> list[Job]:
    order = Job.id.desc() if newest_first else Job.id
    q = select(Job).where(Job.id > after).order_by(order).limit(limit)
    if not (principal.has(Role.access_officer) or principal.has(Role.factory_operator)):
        q = q.where(Job.organisation_id.in_(principal.organisation_ids or {-1}))
    if state is not None:
        q = q.where(Job.state == state)
    if allocation_id is not None:
        q = q.where(Job.allocation_id == allocation_id)
    if organisation_id is not None:
        q = q.where(Job.organisation_id == organisation_id)
    return list(session.execute(q).scalars())


@dataclass(frozen=True)
class FactoryJob:
    """What a factory's operators see of a job on it: no spec, no logs, no owner."""

    id: int
    name: str
    state: JobState
    gpus: int
    partition: str
    organisation: str
    priority_class: str
    time_limit_minutes: int
    queued_at: datetime | None
    started_at: datetime | None
    preemptions: int


def factory_jobs(session: Session, principal: Principal, factory_id: str, *,
                 states: Collection[JobState] | None = None, limit: int = 200
                 ) -> list[FactoryJob]:
    """Jobs on one factory (default: queued or running), for its operators and access officers,
    running first, then by class and age. Raises: NotFound, Forbidden.
    """
    factory = federation.require_operator(session, principal, factory_id)
    wanted = JobState.active_states() if states is None else frozenset(states)
    rows = session.execute(
        select(Job, Organisation.legal_name).join(Organisation,
                                                  Organisation.id == Job.organisation_id)
        .where(Job.factory == factory.id, Job.state.in_(wanted))
        .order_by((Job.state != JobState.running), Job.priority_rank.desc(), Job.id)
        .limit(limit)).all()
    return [FactoryJob(id=j.id, name=j.name, state=j.state, gpus=j.gpus, partition=j.partition,
                       organisation=org, priority_class=j.priority_class,
                       time_limit_minutes=j.time_limit_minutes, queued_at=j.queued_at,
                       started_at=j.started_at, preemptions=j.preemptions)
            for j, org in rows]


def job_view(job: Job) -> JobRead:
    fields = {name: getattr(job, name) for name in JobRead.model_fields
              if name not in ("worst_case_gpu_hours", "warnings")}
    return JobRead.model_validate({**fields, "worst_case_gpu_hours": worst_case(job),
                                   "warnings": getattr(job, "act_warnings", [])})


@dataclass(frozen=True)
class LogPart:
    text: str
    next_offset: int
    more: bool  # the part was cut at `limit`; more output follows from next_offset


def job_log(session: Session, principal: Principal, job_id: int, *, executors: Executors,
            stream: str = "stdout", offset: int = 0, limit: int = 1 << 20) -> LogPart:
    """The job's output from `offset`, at most `limit` bytes, read from its executor.

    Raises: NotFound, Conflict (not yet at its executor: no output so far), ExecutorError.
    """
    job = get_job(session, principal, job_id)
    if job.external_id is None:
        raise Conflict("the job has not reached its executor yet; no output so far")
    executor = executors.get(job.factory, job.partition)
    try:
        data, next_offset = executor.read_log(job.external_id, stream,  # type: ignore[arg-type]
                                              max(offset, 0), limit + 1)
    except FileNotFoundError:  # the stream is created when the run starts
        data, next_offset = b"", max(offset, 0)
    more = len(data) > limit
    if more:
        data, next_offset = data[:limit], max(offset, 0) + limit
    return LogPart(data.decode("utf-8", "replace"), next_offset, more)


def preemptions(session: Session, principal: Principal, *, allocation_id: int | None = None,
                job_id: int | None = None) -> list[AuditEventRead]:
    """The "job.preempted" events of one job or of every job of one allocation, oldest first.

    A job's pre-emptions are its owner's business as much as its state: whoever may see the
    job (or the allocation) sees them. Raises: NotFound.
    """
    if job_id is not None:
        jobs = select(Job.id).where(Job.id == get_job(session, principal, job_id).id)
    else:
        assert allocation_id is not None
        allocation = access.get_allocation(session, principal, allocation_id)
        jobs = select(Job.id).where(Job.allocation_id == allocation.id)
    rows = session.execute(select(AuditEvent).where(
        AuditEvent.action == "job.preempted", AuditEvent.subject_type == "job",
        AuditEvent.subject_id.in_(jobs)).order_by(AuditEvent.seq)).scalars()
    return [AuditEventRead.model_validate(r) for r in rows]


def cancel_job(session: Session, principal: Principal, job_id: int) -> Job:
    """Ask for a job to stop; the reconciler tells the executor. Raises: NotFound, Conflict."""
    job = session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar()
    if job is None or not _visible(principal, job):
        raise NotFound(f"job {job_id} not found")
    if not (principal.is_member(job.organisation_id) or principal.has(Role.access_officer)):
        raise NotFound(f"job {job_id} not found")
    if job.state in JobState.final_states():
        raise InvalidTransition(f"the job is already {job.state.value}")
    if job.state is JobState.pending_submit and job.external_id is None and job.lease_owner is None:
        previous = job.state
        job.state, job.ended_at, job.reason = JobState.cancelled, utcnow(), "cancelled before start"
        record(session, principal, "job.cancelled", subject_type="job", subject_id=job.id,
               organisation_id=job.organisation_id, from_state=previous.value,
               to_state=job.state.value)
        return job
    job.cancel_requested = True
    record(session, principal, "job.cancel-requested", subject_type="job", subject_id=job.id,
           organisation_id=job.organisation_id)
    return job


def allocation_usage(session: Session, principal: Principal, allocation_id: int
                     ) -> AllocationUsage:
    allocation = access.get_allocation(session, principal, allocation_id)
    budget = budget_of(session, allocation)
    running_used = session.scalar(select(func.coalesce(func.sum(Job.gpu_hours_used), 0.0)).where(
        Job.allocation_id == allocation.id, Job.state.in_(JobState.active_states()))) or 0.0
    counts = session.execute(select(
        func.count(), func.count().filter(Job.state.in_(JobState.active_states()))).where(
        Job.allocation_id == allocation.id)).one()
    warnings = session.execute(select(UsageWarning).where(
        UsageWarning.allocation_id == allocation.id).order_by(UsageWarning.threshold_percent)
    ).scalars()
    used = budget.used_final + float(running_used)
    return AllocationUsage(
        allocation_id=allocation.id, organisation_id=allocation.organisation_id,
        factory=allocation.factory, partition=allocation.partition,
        priority_class=allocation.priority_class, start_on=allocation.start_on,
        end_on=allocation.end_on, gpu_hours=allocation.gpu_hours, gpu_hours_used=round(used, 6),
        gpu_hours_committed=round(budget.committed, 6),
        gpu_hours_left=round(max(budget.left, 0.0), 6),
        percent_used=round(100 * used / allocation.gpu_hours, 3) if allocation.gpu_hours else 0,
        jobs_active=counts[1], jobs_total=counts[0],
        warnings=[UsageWarningRead.model_validate(w) for w in warnings])
