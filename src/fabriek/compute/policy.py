"""Pure compute policy: budget admission, accounting, usage warnings, pre-emption choice.

The broker never starts a job whose worst case (GPUs × time limit) exceeds what is left of the
allocation after the worst cases of its queued and running jobs (DESIGN §2.3). No I/O here, so
the trace-driven simulation runs the same functions as the live broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

USAGE_THRESHOLDS = (75, 90, 100)


@dataclass(frozen=True)
class Budget:
    gpu_hours: float  # granted
    used_final: float  # by jobs that have ended
    committed: float  # worst cases of queued and running jobs (incl. what they used so far)

    @property
    def left(self) -> float:
        return self.gpu_hours - self.used_final - self.committed


@dataclass(frozen=True)
class Admission:
    admitted: bool
    reason: str


def admit_job(*, worst_case_gpu_hours: float, budget: Budget, allocation_active: bool,
              start_on: date, end_on: date, today: date) -> Admission:
    """Admit a job only if the allocation is active now and its worst case fits what is left."""
    if not allocation_active or not start_on <= today <= end_on:
        return Admission(False, f"the allocation is valid from {start_on} to {end_on} and is not "
                                "active today")
    if worst_case_gpu_hours > budget.left + 1e-9:
        return Admission(False, (
            f"the job may use up to {worst_case_gpu_hours:,.2f} GPU-hours (GPUs × time limit), "
            f"but only {max(budget.left, 0):,.2f} of the allocation's {budget.gpu_hours:,.0f} are "
            f"left ({budget.used_final:,.2f} used by finished jobs, {budget.committed:,.2f} held "
            "by queued and running jobs); lower the GPUs or the time limit"))
    return Admission(True, f"worst case {worst_case_gpu_hours:,.2f} GPU-hours fits in "
                           f"{budget.left:,.2f} left")


def run_gpu_hours(gpus: int, started_at: datetime | None, until: datetime | None) -> float:
    """GPU-hours of one run: GPUs × elapsed wall time."""
    if started_at is None or until is None or until <= started_at:
        return 0.0
    return gpus * (until - started_at).total_seconds() / 3600


def thresholds_crossed(gpu_hours: float, used_before: float, used_after: float,
                       already_sent: Sequence[int] = ()) -> list[int]:
    """Usage thresholds (percent of the grant) reached by this change and not yet announced."""
    if gpu_hours <= 0:
        return []
    after = 100 * used_after / gpu_hours
    return [t for t in USAGE_THRESHOLDS if after >= t and t not in already_sent]


@dataclass(frozen=True)
class RunningJob:
    job_id: int
    rank: int
    gpus: int
    started_at: datetime


def preemption_victims(*, incoming_rank: int, incoming_gpus: int, free_gpus: int,
                       running: Sequence[RunningJob]) -> list[int] | None:
    """Which lower-class jobs to requeue so the incoming job fits; None if it cannot.

    Takes the lowest class first and, within a class, the most recently started job (it loses
    the least work), and stops as soon as enough GPUs are free.
    """
    if incoming_gpus <= free_gpus:
        return []
    candidates = sorted((r for r in running if r.rank < incoming_rank),
                        key=lambda r: (r.rank, -r.started_at.timestamp()))
    victims, freed = [], free_gpus
    for r in candidates:
        victims.append(r.job_id)
        freed += r.gpus
        if freed >= incoming_gpus:
            return victims
    return None
