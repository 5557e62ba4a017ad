"""The executor interface: what the broker and reconciler need from any scheduler.

Executors speak only our own types at this boundary (ExecutorJob in, JobSnapshot out) and raise
ExecutorError subclasses, never HTTP errors; the services decide what a failure means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from fabriek.compute.enums import ExternalState

if TYPE_CHECKING:
    from fabriek.compute.executors.staging import StageDataset


@dataclass(frozen=True)
class ExecutorJob:
    """A validated job as an executor receives it. User text is data, never shell code."""

    job_id: int  # the platform's id, carried to the scheduler so a restart can find the job
    name: str
    script: str  # the complete batch script, built from escaped parts (compute.script)
    gpus: int
    nodes: int
    cpus: int
    memory_mb: int
    time_limit_minutes: int
    env: Mapping[str, str] = field(default_factory=dict)
    partition: str = "gpu"
    account: str | None = None  # Slurm account of the allocation
    qos: str | None = None  # Slurm QOS of the priority class
    priority_rank: int = 0  # higher runs first (the local executor's ordered queue)
    image: str | None = None  # a container image, passed as data
    # Datasets to place next to the job before it starts (the broker checked the grants);
    # the executor stages and verifies them, or raises staging.StagingFailed.
    datasets: tuple[StageDataset, ...] = ()


@dataclass(frozen=True)
class JobSnapshot:
    external_id: str
    state: ExternalState
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None  # the program's exit status, if it exited
    signal: int | None = None  # the signal that ended it, if one did
    gpus_allocated: int | None = None
    gpu_ids: tuple[int, ...] = ()
    reason: str = ""  # the scheduler's reason (Resources, TimeLimit, ...)


class ExecutorError(Exception):
    """Something went wrong talking to an executor."""


class ExecutorUnavailable(ExecutorError):
    """The scheduler does not answer; try again later, do not give up on the job."""


class JobRejected(ExecutorError):
    """The scheduler refused the job outright (bad shape, unknown account...)."""


class UnknownJob(ExecutorError):
    """The scheduler has no job with that id."""


Stream = Literal["stdout", "stderr"]


@runtime_checkable
class Executor(Protocol):
    name: str

    def submit(self, job: ExecutorJob) -> str:
        """Hand the job over; returns the scheduler's id. Raises JobRejected/Unavailable."""
        ...

    def find(self, job_id: int) -> JobSnapshot | None:
        """The scheduler's job carrying our id, if any: checked before (re)submitting."""
        ...

    def poll(self, external_ids: Sequence[str]) -> dict[str, JobSnapshot]:
        """Current state of these jobs; ids the scheduler no longer knows are left out."""
        ...

    def cancel(self, external_id: str) -> None:
        """Stop the job and everything it started. Cancelling a finished job is a no-op."""
        ...

    def requeue(self, external_id: str) -> None:
        """Pre-empt: stop the job and put it back in the queue to start again later."""
        ...

    def read_log(self, external_id: str, stream: Stream, offset: int = 0,
                 limit: int = 1 << 20) -> tuple[bytes, int]:
        """Bytes of the job's output from `offset`; returns them and the next offset."""
        ...

    def ping(self) -> bool:
        """True when the scheduler answers."""
        ...


@runtime_checkable
class Provisioner(Protocol):
    """An executor that needs per-allocation set-up at the site (Slurm accounts and limits)."""

    def provision(self, account: str, gpu_minutes_limit: int, qos: Sequence[str]) -> None:
        """Create or update the allocation's account with its GPU-minute limit. Idempotent."""
        ...

    def deprovision(self, account: str) -> None:
        """Admit no new jobs on the account. Idempotent."""
        ...


@runtime_checkable
class HeldHandOver(Protocol):
    """An executor that submits a job held, stages its datasets, then releases it (Slurm).

    A worker that stopped between the submission and the release leaves a held job that
    `find` returns; the reconciler then calls this to finish the hand-over instead of
    submitting again.
    """

    def finish_hand_over(self, job: ExecutorJob, found: JobSnapshot) -> None:
        """Stage, verify and release `found` if it still waits for that; else nothing.
        Raises StagingFailed (the held job is cancelled first) or ExecutorError."""
        ...
