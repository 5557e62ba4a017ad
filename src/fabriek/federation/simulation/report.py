"""Figures of one run: utilisation, placed share, waits per class and organisation type."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fabriek.federation.simulation.engine import Refusal, RunResult
from fabriek.federation.simulation.model import SimUser
from fabriek.federation.simulation.trace import TraceJob, Window


@dataclass(frozen=True, slots=True)
class WaitStats:
    group: str  # a priority class or an organisation type
    jobs: int  # admitted jobs of the group
    started: int  # of them, started before the horizon
    mean_wait_h: float | None  # queue wait of the started ones
    p95_wait_h: float | None


@dataclass(frozen=True, slots=True)
class RunReport:
    strategy: str
    utilisation: float  # GPU-seconds used in the window / the GPUs' seconds in it
    placed_share: float  # offered GPU-hours of jobs started before the horizon / all offered
    refused_share: float  # offered GPU-hours refused at admission / all offered
    refused_jobs: int
    waiting_at_horizon: int  # admitted jobs that had not started by the horizon
    by_class: tuple[WaitStats, ...]
    by_org_type: tuple[WaitStats, ...]
    decisions: int
    wall_s: float
    cpu_s: float
    decisions_per_s: float  # per second of wall time


def p95(values: Sequence[int]) -> float:
    """Nearest-rank 95th percentile of sorted values."""
    return float(values[max(0, math.ceil(0.95 * len(values)) - 1)])


def _stats(group: str, waits: list[int], admitted: int) -> WaitStats:
    waits.sort()
    return WaitStats(group, admitted, len(waits),
                     sum(waits) / len(waits) / 3600 if waits else None,
                     p95(waits) / 3600 if waits else None)


def summarise_run(result: RunResult, jobs: Sequence[TraceJob], users: Mapping[str, SimUser],
                  win: Window) -> RunReport:
    capacity = sum(p.gpus for p in result.partitions) * (win.end_s - win.start_s)
    w0, w1 = win.start_s, win.end_s
    used = offered = placed = refused = 0.0
    waits_cls: dict[str, list[int]] = {}
    waits_org: dict[str, list[int]] = {}
    admitted_cls: dict[str, int] = {}
    admitted_org: dict[str, int] = {}
    waiting = 0
    for i, job in enumerate(jobs):
        work = job.gpus * job.duration_s
        offered += work
        if i in result.refused:
            refused += work
            continue
        user = users[job.user]
        cls, org = user.priority_class, str(user.org_type)
        admitted_cls[cls] = admitted_cls.get(cls, 0) + 1
        admitted_org[org] = admitted_org.get(org, 0) + 1
        start = result.start_s[i]
        if start < 0:
            waiting += 1
            continue
        placed += work
        used += job.gpus * max(0, min(start + job.duration_s, w1) - max(start, w0))
        waits_cls.setdefault(cls, []).append(start - job.submit_s)
        waits_org.setdefault(org, []).append(start - job.submit_s)
    return RunReport(
        strategy=str(result.strategy),
        utilisation=used / capacity if capacity else 0.0,
        placed_share=placed / offered if offered else 0.0,
        refused_share=refused / offered if offered else 0.0,
        refused_jobs=len(result.refused),
        waiting_at_horizon=waiting,
        by_class=tuple(_stats(c, waits_cls.get(c, []), n) for c, n in sorted(
            admitted_cls.items(), key=lambda kv: -_rank(users, kv[0]))),
        by_org_type=tuple(_stats(o, waits_org.get(o, []), n)
                          for o, n in sorted(admitted_org.items())),
        decisions=result.decisions, wall_s=result.wall_s, cpu_s=result.cpu_s,
        decisions_per_s=result.decisions_per_s)


def _rank(users: Mapping[str, SimUser], cls: str) -> int:
    return next((u.rank for u in users.values() if u.priority_class == cls), 0)


def refusals(result: RunResult) -> dict[str, int]:
    counts = {str(r): 0 for r in Refusal}
    for r in result.refused.values():
        counts[str(r)] += 1
    return counts
