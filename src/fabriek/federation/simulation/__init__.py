"""What-if capacity planning: replay a GPU job trace through the live decision code.

`simulate()` runs the policy (one federation queue, priority classes from the access-modes
policy, placement by `placement.rank_sites`) and the baseline (per-factory FCFS with EASY
backfill, users pinned to a home factory) on the same trace and federation, and reports both.
`place_sequence()` replays a few jobs and returns where each started, for comparison with the
live broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fabriek.access.policy_files import AccessModesPolicy
from fabriek.errors import ValidationFailed
from fabriek.federation.simulation.engine import RunResult, Strategy, place_sequence, run
from fabriek.federation.simulation.model import (
    DEFAULT_SHARES,
    OrgType,
    SimPartition,
    SimUser,
    layout,
    sized_gpus,
    users_for,
)
from fabriek.federation.simulation.report import RunReport, refusals, summarise_run
from fabriek.federation.simulation.trace import TraceJob, load_trace, summarise, window

__all__ = ["DEFAULT_GRACE_S", "RunReport", "SimPartition", "SimUser", "SimulationReport",
           "Strategy", "TraceJob", "federation_for", "load_trace", "place_sequence", "simulate"]

DEFAULT_GRACE_S = 24 * 3600  # placed = started by the last submission + one day


@dataclass(frozen=True, slots=True)
class SimulationReport:
    jobs: int
    users: int
    window_start_h: float  # the window for load and utilisation: from here ...
    window_end_h: float  # ... to the last submission
    offered_gpu_hours: float  # Σ GPUs × duration of every job
    window_offered_gpu_hours: float  # of the jobs submitted in the window
    gpus: int
    partitions: tuple[SimPartition, ...]
    load: float  # offered GPU-hours in the window / (GPUs × window hours)
    seed: int
    horizon_h: float
    users_by_mode: dict[str, int]
    refusals: dict[str, int]
    policy: RunReport
    baseline: RunReport


def federation_for(jobs: Sequence[TraceJob], *, load: float | None = 0.85,
                   gpus: int | None = None, factories: int = 6,
                   window_from: float = 0.0) -> list[SimPartition]:
    """The generated federation: `gpus` (or sized for `load` over the window) spread over
    `factories` factories in whole 8-GPU nodes."""
    if gpus is None:
        if load is None:
            raise ValidationFailed("give a load or a GPU count")
        win = window(jobs, window_from)
        gpus = sized_gpus(win.offered_gpu_hours, win.end_s - win.start_s, load)
    elif gpus < 1:
        raise ValidationFailed(f"--gpus must be at least 1, not {gpus}")
    return layout(gpus, factories, max(j.gpus for j in jobs))


def simulate(jobs: Sequence[TraceJob], partitions: Sequence[SimPartition],
             modes: AccessModesPolicy, *, seed: int = 0,
             shares: Mapping[OrgType, float] = DEFAULT_SHARES, limit_factor: float = 1.0,
             budget_factor: float = 1.0, grace_s: int = DEFAULT_GRACE_S,
             window_from: float = 0.0,
             mode_caps: bool = True,
             progress: Callable[[Strategy, int], None] | None = None) -> SimulationReport:
    """Run the policy and the baseline over `jobs` (sorted by submission) on `partitions`."""
    if not jobs:
        raise ValidationFailed("the trace has no jobs")
    if not partitions:
        raise ValidationFailed("the federation has no partitions")
    if limit_factor < 1:
        raise ValidationFailed(f"the time-limit factor must be at least 1, not {limit_factor}")
    if budget_factor <= 0:
        raise ValidationFailed(f"the budget factor must be above 0, not {budget_factor}")
    if grace_s < 0:
        raise ValidationFailed("the grace period cannot be negative")
    summary = summarise(jobs)
    win = window(jobs, window_from)
    factories = sorted({p.factory_id for p in partitions})
    users = users_for(jobs, modes, factories, seed=seed, shares=shares,
                      limit_factor=limit_factor, budget_factor=budget_factor,
                      mode_caps=mode_caps)
    horizon = jobs[-1].submit_s + grace_s
    results: dict[Strategy, RunResult] = {}
    for strategy in Strategy:
        tick = (lambda done, s=strategy: progress(s, done)) if progress else None
        results[strategy] = run(jobs, users, partitions, strategy=strategy,
                                limit_factor=limit_factor, horizon_s=horizon, progress=tick)
    gpus = sum(p.gpus for p in partitions)
    hours = max(win.hours, 1 / 3600)
    by_mode: dict[str, int] = {}
    for u in users.values():
        by_mode[u.mode] = by_mode.get(u.mode, 0) + 1
    return SimulationReport(
        jobs=summary.jobs, users=summary.users, window_start_h=win.start_s / 3600,
        window_end_h=win.end_s / 3600,
        offered_gpu_hours=summary.offered_gpu_hours,
        window_offered_gpu_hours=win.offered_gpu_hours, gpus=gpus, partitions=tuple(partitions),
        load=win.offered_gpu_hours / (gpus * hours), seed=seed,
        horizon_h=horizon / 3600, users_by_mode=dict(sorted(by_mode.items())),
        refusals=refusals(results[Strategy.policy]),
        policy=summarise_run(results[Strategy.policy], jobs, users, win),
        baseline=summarise_run(results[Strategy.baseline], jobs, users, win))
