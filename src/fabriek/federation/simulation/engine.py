"""The discrete-event simulator: one engine, two strategies (the policy and the baseline).

Time is integer seconds; events are a heap of job ends plus the trace's arrivals (already
sorted). Every decision goes through the live code: `compute.policy.admit_job` at submission,
`placement.queue_key` for queue order, `placement.fits` and `placement.rank_sites` for where a
job starts. Nothing here decides differently from the broker; the engine only keeps state.

Strategies:
- policy: one federation queue ordered by `queue_key(class rank, submit, id)`; a job may start
  on any partition of the federation (its allocation is valid at every factory).
- baseline: one queue per factory, first come first served (every rank 0); a user's jobs go
  only to the user's home factory.

Backfill (EASY, per queue): the queue is walked in `queue_key` order. Jobs start while some
partition can take them now. The first job that cannot start gets a reservation: the
partition `rank_sites` ranks first when each SiteState carries its exact drain time (running
jobs end at their time limits), the shadow time when it can start there and the GPUs left
over then (extra). Later jobs may still start anywhere, except that on the reserved partition
a job that would still run at the shadow time may only use the extra GPUs; this is fed to
`rank_sites` as that partition's free GPUs. Jobs of one shape (class, GPUs, nodes) wait in
submission order: when the first of a shape cannot start, the others of that shape are not
tried in the same pass (bounded work per event; they could only differ by time limit).

Site state is kept incrementally: free GPUs per partition and a sorted list of running jobs'
limit ends; the SiteStates handed to rank_sites are immutable and memoised per (partition,
free GPUs), so a decision allocates none. rank_sites gets the partitions that could start the
job now (those rank first anyway); drain times are computed only for a job that no partition
can start now, to place its reservation.
"""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from heapq import heapify, heappop, heappush
from itertools import pairwise

from fabriek.compute.policy import Budget, admit_job
from fabriek.errors import ValidationFailed
from fabriek.federation.placement import Demand, SiteState, fits, queue_key, rank_sites
from fabriek.federation.simulation.model import SimPartition, SimUser, time_limit
from fabriek.federation.simulation.trace import TraceJob

_DAY = date(2000, 1, 1)  # allocations are valid over the whole simulated period
_INF = float("inf")


class Strategy(StrEnum):
    policy = "policy"
    baseline = "baseline"


class Refusal(StrEnum):
    budget = "budget"  # compute.policy.admit_job refused it
    no_partition = "no-partition"  # no partition it may use can hold its shape


@dataclass(slots=True)
class RunResult:
    strategy: Strategy
    partitions: list[SimPartition]
    horizon_s: int
    start_s: list[int]  # -1: never started before the horizon (or refused)
    site: list[int]  # index into partitions, -1 if not started
    refused: dict[int, Refusal]
    decisions: int  # jobs admitted and started, plus jobs refused
    wall_s: float
    cpu_s: float  # process CPU time: steadier than wall time on a shared machine

    @property
    def decisions_per_s(self) -> float:
        return self.decisions / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(slots=True)
class _Queue:
    """One waiting queue (the federation's, or one factory's in the baseline)."""

    sites: list[int]  # partition indices this queue may use
    free: int  # free GPUs over its partitions
    shapes: dict[int, deque[int]] = field(default_factory=dict)  # shape id → waiting jobs
    dirty: bool = False
    # The EASY reservation of the last pass, reused while it still holds: the same job is the
    # first that cannot start, nothing started ahead of it and no job ended before its limit.
    held_for: int = -1  # the job it was made for
    held: list[int] | None = None  # [partition, shadow time, extra GPUs]


def run(jobs: Sequence[TraceJob], users: Mapping[str, SimUser],
        partitions: Sequence[SimPartition], *, strategy: Strategy = Strategy.policy,
        limit_factor: float = 1.0, horizon_s: int | None = None,
        progress: Callable[[int], None] | None = None) -> RunResult:
    """Replay `jobs` (sorted by submit time) until `horizon_s` (default: until all are done)."""
    return _Engine(jobs, users, partitions, strategy, limit_factor, horizon_s, progress).run()


class _Engine:
    def __init__(self, jobs: Sequence[TraceJob], users: Mapping[str, SimUser],
                 partitions: Sequence[SimPartition], strategy: Strategy, limit_factor: float,
                 horizon_s: int | None, progress: Callable[[int], None] | None) -> None:
        if limit_factor < 1:
            raise ValidationFailed("the time-limit factor must be at least 1 (limit ≥ duration)")
        self.strategy = strategy
        self.parts = list(partitions)
        self.horizon = horizon_s
        self.progress = progress
        n = len(jobs)
        # Jobs as parallel arrays: the hot loop indexes lists, never builds per-job objects.
        self.submit = [j.submit_s for j in jobs]
        if any(a > b for a, b in pairwise(self.submit)):
            raise ValidationFailed("the jobs must be sorted by submission time")
        self.dur = [j.duration_s for j in jobs]
        self.limit = [max(j.duration_s, time_limit(j.duration_s, limit_factor)) for j in jobs]
        self.gpus = [j.gpus for j in jobs]
        user_ids = {name: i for i, name in enumerate(users)}
        try:
            self.user = [user_ids[j.user] for j in jobs]
        except KeyError as exc:
            raise ValidationFailed(f"trace user {exc.args[0]} has no SimUser") from None
        ulist = list(users.values())
        self.grant = [u.grant_gpu_hours for u in ulist]
        self.used = [0.0] * len(ulist)
        self.committed = [0.0] * len(ulist)
        self.worst = [g * lim / 3600 for g, lim in zip(self.gpus, self.limit, strict=True)]
        self.start = [-1] * n
        self.site = [-1] * n
        self.refused: dict[int, Refusal] = {}

        # Queue order (placement.queue_key) and shapes: (rank, GPUs, nodes) → one Demand.
        baseline = strategy is Strategy.baseline
        rank_of = [0 if baseline else u.rank for u in ulist]
        shape_ids: dict[tuple[int, int, int], int] = {}
        self.demands: list[Demand] = []
        self.shape = [0] * n
        self.key: list[tuple[float, float, int]] = [None] * n  # type: ignore[list-item]
        for i, j in enumerate(jobs):
            rank = rank_of[self.user[i]]
            sk = (rank, j.gpus, j.nodes)
            sid = shape_ids.get(sk)
            if sid is None:
                sid = shape_ids[sk] = len(self.demands)
                self.demands.append(Demand(gpus=j.gpus, nodes=j.nodes, priority_rank=rank))
            self.shape[i] = sid
            self.key[i] = queue_key(rank, j.submit_s, i)

        # Partitions and their incremental state.
        self.free = [p.gpus for p in self.parts]
        self.ends: list[list[tuple[int, int]]] = [[] for _ in self.parts]  # (limit end, job)
        # SiteStates are immutable and depend only on the partition and its free GPUs here, so
        # each (partition, free GPUs) is built once and reused: no per-decision allocation.
        self.state_memo: list[dict[int, SiteState]] = [{} for _ in self.parts]
        self.index = {p.key: i for i, p in enumerate(self.parts)}
        if len(self.index) != len(self.parts):
            raise ValidationFailed("partition keys (factory id, partition id) must be unique")

        # Queues: the federation's one, or one per factory (users pinned to a home factory).
        if baseline:
            factories = sorted({p.factory_id for p in self.parts})
            self.queues = [self._queue([i for i, p in enumerate(self.parts)
                                        if p.factory_id == f]) for f in factories]
            by_factory = {f: q for q, f in enumerate(factories)}
            try:
                qof_user = [by_factory[u.home_factory] for u in ulist]
            except KeyError as exc:
                raise ValidationFailed(f"home factory {exc.args[0]} has no partition") from None
        else:
            self.queues = [self._queue(list(range(len(self.parts))))]
            qof_user = [0] * len(ulist)
        self.queue_of_user = qof_user
        self.queue_of_site = [0] * len(self.parts)
        for q, queue in enumerate(self.queues):
            for p in queue.sites:
                self.queue_of_site[p] = q
        # Whether some partition of a queue can ever hold a shape (placement.fits).
        self.holdable = [[any(fits(d, self._site_state(p, self.parts[p].gpus)) is None
                              for p in queue.sites) for d in self.demands]
                         for queue in self.queues]
        self.events: list[tuple[int, int]] = []  # (actual end, job)
        self.decisions = 0

    def _site_state(self, p: int, free: int) -> SiteState:
        """What the broker knows of partition p with `free` GPUs free (nothing waits at a
        partition in the simulator: jobs are dispatched only when they can start)."""
        memo = self.state_memo[p]
        state = memo.get(free)
        if state is None:
            part = self.parts[p]
            state = memo[free] = SiteState(key=part.key, total_gpus=part.gpus,
                                           gpus_per_node=part.gpus_per_node, free_gpus=free)
        return state

    def _queue(self, sites: list[int]) -> _Queue:
        return _Queue(sites=sites, free=sum(self.free[p] for p in sites))

    # --- the event loop ---------------------------------------------------------------------

    def run(self) -> RunResult:
        t0, c0 = time.perf_counter(), time.process_time()
        submit, events, queues = self.submit, self.events, self.queues
        n, ptr = len(submit), 0
        horizon = _INF if self.horizon is None else self.horizon
        progress, tick = self.progress, 0
        while True:
            ta = submit[ptr] if ptr < n else _INF
            te = events[0][0] if events else _INF
            now = ta if ta < te else te
            if now == _INF or now > horizon:
                break
            while events and events[0][0] == now:
                self._end(heappop(events)[1], now)
            while ptr < n and submit[ptr] == now:
                self._arrive(ptr)
                ptr += 1
            for queue in queues:
                if queue.dirty:
                    queue.dirty = False
                    self._schedule(queue, int(now))
            if progress is not None and ptr - tick >= 4096:
                tick = ptr
                progress(ptr)
        if progress is not None:
            progress(n)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return RunResult(self.strategy, self.parts,
                         int(horizon) if horizon != _INF else int(max(
                             (s + d for s, d in zip(self.start, self.dur, strict=True) if s >= 0),
                             default=0)),
                         self.start, self.site, self.refused, self.decisions, wall, cpu)

    def _arrive(self, j: int) -> None:
        u = self.user[j]
        verdict = admit_job(
            worst_case_gpu_hours=self.worst[j],
            budget=Budget(self.grant[u], self.used[u], self.committed[u]),
            allocation_active=True, start_on=_DAY, end_on=_DAY, today=_DAY)
        q = self.queue_of_user[u]
        sid = self.shape[j]
        if not verdict.admitted:
            self.refused[j] = Refusal.budget
            self.decisions += 1
            return
        if not self.holdable[q][sid]:
            self.refused[j] = Refusal.no_partition
            self.decisions += 1
            return
        self.committed[u] += self.worst[j]
        queue = self.queues[q]
        waiting = queue.shapes.get(sid)
        if waiting is None:
            queue.shapes[sid] = deque((j,))
        else:
            waiting.append(j)
        queue.dirty = True

    def _end(self, j: int, now: int) -> None:
        p, g = self.site[j], self.gpus[j]
        self.free[p] += g
        queue = self.queues[self.queue_of_site[p]]
        queue.free += g
        ends = self.ends[p]
        limit_end = self.start[j] + self.limit[j]
        del ends[bisect_left(ends, (limit_end, j))]
        if now < limit_end:
            queue.held_for = -1  # ended before its limit: drain times are earlier now
        u = self.user[j]
        self.used[u] += g * self.dur[j] / 3600
        self.committed[u] -= self.worst[j]
        queue.dirty = True

    def _begin(self, j: int, p: int, now: int, queue: _Queue) -> None:
        g = self.gpus[j]
        self.free[p] -= g
        queue.free -= g
        insort(self.ends[p], (now + self.limit[j], j))
        heappush(self.events, (now + self.dur[j], j))
        self.start[j], self.site[j] = now, p
        self.decisions += 1

    # --- one scheduling pass over a queue (EASY backfill) -----------------------------------

    def _schedule(self, queue: _Queue, now: int) -> None:
        shapes = queue.shapes
        if queue.free <= 0 or not shapes:
            return
        key, demands, free, sites = self.key, self.demands, self.free, queue.sites
        heads = [(key[w[0]], sid) for sid, w in shapes.items()]
        heapify(heads)
        most = max(free[p] for p in sites)  # no job needing more can start anywhere now
        # EASY: the first job that cannot start is `blocked`; its reservation is computed only
        # when a later job could start somewhere (otherwise it would never be consulted).
        blocked, blocked_job = None, -1
        reservation: list[int] | None = None  # [partition, shadow time, extra GPUs]
        while heads and most > 0:
            sid = heappop(heads)[1]
            demand = demands[sid]
            waiting = shapes[sid]
            j = waiting[0]
            if demand.gpus > most:
                if blocked is None:
                    blocked, blocked_job = demand, j
                continue
            if blocked is not None and reservation is None:
                if queue.held_for == blocked_job and queue.held is not None:
                    reservation = queue.held
                else:
                    reservation, unique = self._reserve(queue, blocked, now)
                    # Other partitions' drain times only move later as jobs start there, so a
                    # strictly soonest partition stays rank_sites' first choice; a tie is
                    # broken by free GPUs, which change, so a tied choice is not reused.
                    queue.held_for = blocked_job if unique else -1
                    queue.held = reservation
            p = self._choose(queue, j, demand, now, reservation)
            if p < 0:
                if blocked is None:
                    blocked, blocked_job = demand, j
                continue
            self._begin(j, p, now, queue)
            most = max(free[p] for p in sites)
            if blocked is None:
                queue.held_for = -1  # started ahead of any reservation: it no longer holds
            elif reservation is not None and p == reservation[0] and \
                    now + self.limit[j] > reservation[1]:
                reservation[2] -= demand.gpus
            waiting.popleft()
            if waiting:
                heappush(heads, (key[waiting[0]], sid))
            else:
                del shapes[sid]

    def _choose(self, queue: _Queue, j: int, demand: Demand, now: int,
                reservation: list[int] | None) -> int:
        """The partition where the job starts now (rank_sites' first choice), or -1.

        rank_sites is given only the partitions with enough free GPUs: a site that can start
        the job now ranks before every site that cannot, so its first choice is the same as
        over all sites, for less work per decision."""
        need, free = demand.gpus, self.free
        capped = -1  # the reserved partition, when only its extra GPUs are open to this job
        if reservation is not None and now + self.limit[j] > reservation[1] and \
                free[reservation[0]] > reservation[2]:
            capped = reservation[0]
        open_sites = [p for p in queue.sites
                      if (free[p] if p != capped else reservation[2]) >= need]  # type: ignore[index]
        if not open_sites:
            return -1  # nothing free enough anywhere: rank_sites could not say "now"
        state = self._site_state
        candidates = [state(p, free[p] if p != capped else reservation[2])  # type: ignore[index]
                      for p in open_sites]
        ranked = rank_sites(demand, candidates)
        if ranked and ranked[0].start_in_hours == 0:
            return self.index[ranked[0].key]
        return -1

    def _reserve(self, queue: _Queue, demand: Demand,
                 now: int) -> tuple[list[int] | None, bool]:
        """EASY reservation for the first job that cannot start: the partition rank_sites ranks
        first given exact drain times, when the job starts there, and the GPUs left over; and
        whether that partition is strictly the soonest."""
        states: list[SiteState] = []
        drains: dict[int, tuple[int, int]] = {}
        for p in queue.sites:
            state = self._site_state(p, self.free[p])
            if state.total_gpus >= demand.gpus:
                when, free_then = self._drain(p, demand.gpus, now)
                drains[p] = (when, free_then)
                part = self.parts[p]
                state = SiteState(key=part.key, total_gpus=part.gpus,
                                  gpus_per_node=part.gpus_per_node, free_gpus=self.free[p],
                                  drain_hours=(when - now) / 3600)
            states.append(state)
        ranked = rank_sites(demand, states)
        if not ranked:
            return None, False
        p = self.index[ranked[0].key]
        when, free_then = drains[p]
        unique = len(ranked) == 1 or ranked[1].start_in_hours > ranked[0].start_in_hours
        return [p, when, free_then - demand.gpus], unique

    def _drain(self, p: int, need: int, now: int) -> tuple[int, int]:
        """When running jobs on partition p (ending at their time limits) leave `need` GPUs
        free, and how many are free then."""
        free, gpus = self.free[p], self.gpus
        if free >= need:
            return now, free
        ends = self.ends[p]
        k, n = 0, len(ends)
        while k < n:
            when = ends[k][0]
            while k < n and ends[k][0] == when:
                free += gpus[ends[k][1]]
                k += 1
            if free >= need:
                return when, free
        return now, free  # unreachable while every GPU is free or held by a running job


def place_sequence(submissions: Sequence[tuple[TraceJob, int]], users: Mapping[str, SimUser],
                   partitions: Sequence[SimPartition]) -> list[tuple[tuple[str, str] | None,
                                                                     int]]:
    """Replay (job, submit time) pairs through the policy's decision code and return, per job
    in the given order, (the partition it started on, its start time), or (None, -1) when it
    was refused or never started. Jobs submitted at the same second are decided in the given
    order. For comparing the simulator with the live broker: note that the simulator holds a
    job in the federation queue until some partition can start it, while the broker sends it
    to a site's queue at submission, so the two agree for jobs that can start when submitted."""
    order = sorted(range(len(submissions)), key=lambda i: submissions[i][1])
    jobs = [TraceJob(submissions[i][0].id, submissions[i][0].user, submissions[i][1],
                     submissions[i][0].duration_s, submissions[i][0].gpus,
                     submissions[i][0].nodes) for i in order]
    result = run(jobs, users, partitions, strategy=Strategy.policy)
    out: list[tuple[tuple[str, str] | None, int]] = [(None, -1)] * len(submissions)
    for k, i in enumerate(order):
        p = result.site[k]
        out[i] = (result.partitions[p].key, result.start_s[k]) if p >= 0 else (None, -1)
    return out
