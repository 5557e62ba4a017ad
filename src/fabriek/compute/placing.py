"""The broker's view of an allocation's sites, for the pure placement policy.

Builds a `placement.SiteState` per partition from what the platform knows (jobs it placed there,
the partition's size, whether its scheduler answered last time) and asks
`federation.placement.rank_sites`, the same function the trace simulator calls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from fabriek.access.models import Allocation, AllocationSite
from fabriek.compute.enums import JobState
from fabriek.compute.models import Job, SiteHealth
from fabriek.compute.registry import Executors
from fabriek.federation.placement import Demand, SiteChoice, SiteKey, SiteState, fits, rank_sites

_BUSY = (JobState.pending_submit, JobState.queued, JobState.running)


def allocation_sites(session: Session, allocation: Allocation) -> list[SiteKey]:
    """The partitions the allocation is valid at, home first."""
    rows = session.execute(select(AllocationSite.factory, AllocationSite.partition).where(
        AllocationSite.allocation_id == allocation.id).order_by(
        AllocationSite.home.desc(), AllocationSite.id)).all()
    return [(f, p) for f, p in rows] or [(allocation.factory, allocation.partition)]


def unreachable(session: Session, keys: Iterable[SiteKey]) -> set[SiteKey]:
    keys = list(keys)
    if not keys:
        return set()
    rows = session.execute(select(SiteHealth.factory, SiteHealth.partition).where(
        tuple_(SiteHealth.factory, SiteHealth.partition).in_(keys),
        SiteHealth.reachable.is_(False))).all()
    return {(f, p) for f, p in rows}


def _drain_hours(running: Sequence[tuple[int, datetime | None, int]], free: int, needed: int,
                 now: datetime) -> float | None:
    """Hours until running jobs, ending at their time limits, free `needed` GPUs."""
    if free >= needed:
        return 0.0
    for end, gpus in sorted(((started or now) + timedelta(minutes=limit), gpus)
                            for gpus, started, limit in running):
        free += gpus
        if free >= needed:
            return max((end - now).total_seconds() / 3600, 0.0)
    return None


def site_states(session: Session, executors: Executors, keys: Sequence[SiteKey], demand: Demand,
                now: datetime, *, exclude: Iterable[SiteKey] = (),
                ignore_job: int | None = None) -> list[SiteState]:
    """What the broker knows of each partition the job could go to (those with an executor)."""
    keys = [k for k in keys if k in executors.partitions and k not in set(exclude)]
    if not keys:
        return []
    jobs = session.execute(select(
        Job.id, Job.factory, Job.partition, Job.state, Job.gpus, Job.time_limit_minutes,
        Job.started_at, Job.priority_rank).where(
        tuple_(Job.factory, Job.partition).in_(keys), Job.state.in_(_BUSY))).all()
    running: dict[SiteKey, list[tuple[int, datetime | None, int]]] = defaultdict(list)
    ahead: dict[SiteKey, float] = defaultdict(float)
    for j in jobs:
        if j.id == ignore_job:
            continue
        key = (j.factory, j.partition)
        if j.state is JobState.running:
            running[key].append((j.gpus, j.started_at, j.time_limit_minutes))
        elif j.priority_rank >= demand.priority_rank:
            ahead[key] += j.gpus * j.time_limit_minutes / 60
    down = unreachable(session, keys)
    states = []
    for key in keys:
        p = executors.partitions[key]
        total = p.gpus_per_node * p.nodes
        free = total - sum(g for g, _, _ in running[key])
        states.append(SiteState(
            key=key, total_gpus=total, gpus_per_node=p.gpus_per_node, free_gpus=free,
            gpu_model=p.gpu_model, gpu_memory_gb=p.gpu_memory_gb, reachable=key not in down,
            ahead_gpu_hours=ahead[key],
            drain_hours=_drain_hours(running[key], free, demand.gpus, now)))
    return states


def place(session: Session, executors: Executors, keys: Sequence[SiteKey], demand: Demand,
          now: datetime, *, exclude: Iterable[SiteKey] = (), ignore_job: int | None = None
          ) -> tuple[list[SiteChoice], dict[SiteKey, str]]:
    """The sites that can run the job, best first, and why each other one cannot.

    When every site that could run it is down, the answer is those sites anyway (the job waits
    for one to answer: nothing accepted is lost), each choice saying so.
    """
    exclude = set(exclude)
    states = site_states(session, executors, keys, demand, now, exclude=exclude,
                         ignore_job=ignore_job)
    refused: dict[SiteKey, str] = {}
    for key in keys:
        if key in exclude:
            refused[key] = "its scheduler did not answer"
        elif key not in executors.partitions:
            refused[key] = "no scheduler of this installation runs it"
    for s in states:
        if (why := fits(demand, s)) is not None:
            refused[s.key] = why
    ranked = rank_sites(demand, states)
    down = [s for s in states if not s.reachable]
    if not ranked and down:
        waiting = rank_sites(demand, [replace(s, reachable=True) for s in down])
        ranked = [SiteChoice(c.key, c.start_in_hours, "waits: the site does not answer now")
                  for c in waiting]
    return ranked, refused
