"""Runs queued dataset-service runs in the background; safe in many processes at once.

A worker claims one run at a time with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on
SQLite the writer lock serialises the claim), as the job reconciler does. While it works, a
keeper thread renews the lease; progress is written at most every `progress_seconds`. A run
whose worker died (its lease ran out) is claimed again by the next worker, up to
`max_attempts` in all, then failed with that reason. If a worker finds that its lease was
taken over (it was paused too long), it drops its work without writing: the new owner
finishes the run. Before the work starts the read is decided again for the person who asked,
so a grant that expired or was revoked while the run waited stops it.

The work runs outside any transaction: the file is read by DuckDB from the blob store, a new
file (convert, synthesize) goes into the content-addressed store, and one short transaction
adds the distribution and marks the run done.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from fabriek.audit.service import record
from fabriek.datalab import runs
from fabriek.datalab import service as catalogue
from fabriek.datalab.duck import EngineLimits
from fabriek.datalab.filenames import check_file_name
from fabriek.datalab.models import Dataset, Distribution
from fabriek.datalab.run_models import RunState, ServiceRun
from fabriek.datalab.service import DatalabConfig
from fabriek.datalab.service_tasks import Outcome, perform
from fabriek.datalab.storage import StoredBlob
from fabriek.db.session import Database
from fabriek.errors import Conflict, FabriekError, PolicyRefusal
from fabriek.identity.models import User
from fabriek.identity.principal import SYSTEM, Principal
from fabriek.identity.service import load_principal
from fabriek.kit.clock import utcnow
from fabriek.settings import Settings

log = logging.getLogger("fabriek.datalab.runner")


class LeaseLost(Exception):
    """Another worker owns the run now; this one must stop without writing."""


@dataclass(frozen=True)
class RunnerConfig:
    work_dir: Path
    limits: EngineLimits = field(default_factory=EngineLimits)
    lease_seconds: float = 120.0
    progress_seconds: float = 0.5
    max_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> RunnerConfig:
        return cls(work_dir=settings.data_dir / "datalab-work",
                   limits=EngineLimits(memory_limit=settings.datalab_service_memory,
                                       threads=settings.datalab_service_threads))


class _Lease:
    """Renews a run's lease every third of its length until stopped; notes when it is lost."""

    def __init__(self, runner: ServiceRunner, run_id: int) -> None:
        self.runner, self.run_id = runner, run_id
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease-run-{run_id}",
                                        daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _keep(self) -> None:
        while not self._stop.wait(self.runner.config.lease_seconds / 3):
            try:
                if not self.runner._touch(self.run_id):
                    self.lost.set()
                    return
            except Exception:  # a database hiccup: try again next time round
                log.exception("renewing the lease of service run %s failed", self.run_id)


class ServiceRunner:
    def __init__(self, db: Database, datalab: DatalabConfig, config: RunnerConfig, *,
                 worker_id: str | None = None) -> None:
        self.db, self.datalab, self.config = db, datalab, config
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:services"
        self._wake = threading.Event()

    # -- the loop --------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def run_forever(self, stop: threading.Event, interval: float = 2.0) -> None:
        while not stop.is_set():
            try:
                self.run_once(stop=stop)
            except Exception:  # the loop must outlive any one bad pass
                log.exception("data-lab service pass failed")
            self._wake.wait(interval)
            self._wake.clear()

    def run_once(self, now: datetime | None = None, *, limit: int = 10,
                 stop: threading.Event | None = None) -> list[int]:
        """Claim and run queued runs one after another (at most `limit`); their ids."""
        done: list[int] = []
        while len(done) < limit and not (stop is not None and stop.is_set()):
            run_id = self.claim(now)
            if run_id is None:
                break
            self.execute(run_id)
            done.append(run_id)
        return done

    # -- claiming ----------------------------------------------------------------------------

    def claim(self, now: datetime | None = None) -> int | None:
        """Take the oldest queued run, or a running one whose worker's lease ran out."""
        while True:
            moment = now or utcnow()
            with self.db.unit_of_work() as s:
                run = s.execute(
                    select(ServiceRun).where(or_(
                        ServiceRun.state == RunState.queued,
                        and_(ServiceRun.state == RunState.running,
                             ServiceRun.lease_until < moment)))
                    .order_by(ServiceRun.id).limit(1).with_for_update(skip_locked=True)
                ).scalar()
                if run is None:
                    return None
                previous = run.state
                run.attempts += 1
                if run.attempts > self.config.max_attempts:
                    self._set_failed(s, run, f"gave up after {self.config.max_attempts} "
                                             "attempts: the worker running it stopped each time",
                                     previous, moment)
                    continue
                run.state, run.lease_owner = RunState.running, self.worker_id
                run.lease_until = moment + timedelta(seconds=self.config.lease_seconds)
                run.started_at = run.started_at or moment
                run.message = "started" if run.attempts == 1 else \
                    f"started again (attempt {run.attempts})"
                record(s, SYSTEM, "datalab.service-run-started", subject_type=runs.SUBJECT,
                       subject_id=run.id, from_state=previous.value,
                       to_state=RunState.running.value,
                       data={"worker": self.worker_id, "attempt": run.attempts})
                return run.id

    def _touch(self, run_id: int) -> bool:
        """Extend the lease; False when the run is no longer ours."""
        with self.db.unit_of_work() as s:
            changed = s.execute(self._owned(run_id).values(
                lease_until=utcnow() + timedelta(seconds=self.config.lease_seconds))).rowcount
        return bool(changed == 1)

    def _owned(self, run_id: int):  # type: ignore[no-untyped-def]
        """An UPDATE of the run that matches only while this worker holds it."""
        return update(ServiceRun).where(ServiceRun.id == run_id,
                                        ServiceRun.lease_owner == self.worker_id,
                                        ServiceRun.state == RunState.running)

    # -- running -----------------------------------------------------------------------------

    def execute(self, run_id: int) -> None:
        try:
            self._execute(run_id)
        except LeaseLost:
            log.warning("service run %s was taken over by another worker; dropped", run_id)
        except FabriekError as exc:
            self._fail(run_id, exc.detail)
        except Exception as exc:
            log.exception("service run %s failed", run_id)
            self._fail(run_id, f"internal error ({type(exc).__name__}); the server log has "
                               "the details")

    def _execute(self, run_id: int) -> None:
        with self.db.unit_of_work(readonly=True) as s:
            run = s.get(ServiceRun, run_id)
            assert run is not None
            dataset = s.get(Dataset, run.dataset_id)
            dist = s.get(Distribution, run.distribution_id)
            user = s.get(User, run.requested_by_id)
            assert dataset is not None and dist is not None and user is not None
            principal = load_principal(s, user)
            if dataset.withdrawn_at is not None:
                raise Conflict(f"dataset {dataset.slug} was withdrawn before the run started")
            decision = runs.decide(s, principal, dataset, run.service)
            if not decision.allowed:
                raise PolicyRefusal(f"the read is no longer allowed: {decision.reason}",
                                    rule=decision.rule)
            service, params = run.service, dict(run.params)
            fmt, file_name = runs.format_of(dist), dist.file_name
            path = self.datalab.store.local_path(dist.blob_key)
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        with _Lease(self, run_id) as lease, \
                tempfile.TemporaryDirectory(prefix=f"run-{run_id}-",
                                            dir=self.config.work_dir) as tmp:
            last = [0.0]

            def progress(fraction: float, message: str) -> None:
                if lease.lost.is_set():
                    raise LeaseLost()
                if time.monotonic() - last[0] < self.config.progress_seconds:
                    return
                last[0] = time.monotonic()
                with self.db.unit_of_work() as ws:
                    changed = ws.execute(self._owned(run_id).values(
                        progress=min(max(fraction, 0.0), 0.99), message=message[:300])
                    ).rowcount
                if changed != 1:
                    raise LeaseLost()

            limits = replace(self.config.limits, temp_directory=Path(tmp) / "spill")
            outcome = perform(service, path, fmt, file_name, params, Path(tmp), limits=limits,
                              progress=progress)
            if lease.lost.is_set():
                raise LeaseLost()
            blob = None
            if outcome.output is not None:
                with outcome.output.open("rb") as f:
                    blob = self.datalab.store.put(
                        f, max_bytes=outcome.output.stat().st_size + 1)
            self._finish(run_id, outcome, blob, principal)

    def _finish(self, run_id: int, outcome: Outcome, blob: StoredBlob | None,
                principal: Principal) -> None:
        now = utcnow()
        with self.db.unit_of_work() as s:
            run = s.get(ServiceRun, run_id, with_for_update=True)
            assert run is not None
            if run.lease_owner != self.worker_id or run.state is not RunState.running:
                raise LeaseLost()
            result = dict(outcome.result)
            if blob is not None:
                dist = self._store_distribution(s, run, outcome, blob, principal, now)
                run.output_distribution_id = dist.id
                result["distribution"] = {"id": dist.id, "file_name": dist.file_name,
                                          "sha256": dist.sha256, "byte_size": dist.byte_size}
            run.state, run.progress, run.message = RunState.done, 1.0, "done"
            run.result, run.finished_at = result, now
            run.lease_owner, run.lease_until = None, None
            record(s, SYSTEM, "datalab.service-run-done", subject_type=runs.SUBJECT,
                   subject_id=run.id, from_state=RunState.running.value,
                   to_state=RunState.done.value,
                   data={"service": run.service.value,
                         "output_distribution_id": run.output_distribution_id})

    def _store_distribution(self, s: Session, run: ServiceRun, outcome: Outcome,
                            blob: StoredBlob, principal: Principal, now: datetime
                            ) -> Distribution:
        """The new file as a distribution of the same dataset (derived from the input); the
        same content already there is reused, never stored twice."""
        dataset = s.get(Dataset, run.dataset_id)
        assert dataset is not None and outcome.output_name is not None
        same = s.execute(select(Distribution).where(
            Distribution.dataset_id == dataset.id, Distribution.sha256 == blob.sha256)
            .order_by(Distribution.id).limit(1)).scalar()
        if same is not None:
            return same
        name = check_file_name(outcome.output_name)
        taken = set(s.execute(select(Distribution.file_name).where(
            Distribution.dataset_id == dataset.id)).scalars())
        if name in taken:
            base, dot, ext = name.partition(".")
            name = f"{base}-run{run.id}{dot}{ext}"
        fmt = self.datalab.policy.format_for(name)
        if fmt is None:
            raise Conflict(f"the data-lab policy accepts no files named like {name}")
        return catalogue.add_distribution(s, principal, dataset, name, fmt, blob,
                                          title=outcome.output_title,
                                          derived_from_id=run.distribution_id, now=now)

    def _fail(self, run_id: int, reason: str) -> None:
        try:
            with self.db.unit_of_work() as s:
                run = s.get(ServiceRun, run_id, with_for_update=True)
                if run is None or run.state.final or run.lease_owner != self.worker_id:
                    return
                self._set_failed(s, run, reason, run.state, utcnow())
        except Exception:
            log.exception("could not record the failure of service run %s", run_id)

    @staticmethod
    def _set_failed(s: Session, run: ServiceRun, reason: str, previous: RunState,
                    now: datetime) -> None:
        run.state, run.error, run.message = RunState.failed, reason[:4000], "failed"
        run.finished_at, run.lease_owner, run.lease_until = now, None, None
        record(s, SYSTEM, "datalab.service-run-failed", subject_type=runs.SUBJECT,
               subject_id=run.id, from_state=previous.value, to_state=RunState.failed.value,
               reason=reason[:500], data={"service": run.service.value})
