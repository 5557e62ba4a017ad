"""The simulator: exact start times on a hand-checked scenario, capacity never exceeded,
determinism, budget admission, and the replay helper for comparison with the live broker."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabriek.access.policy_files import AccessPolicy
from fabriek.errors import ValidationFailed
from fabriek.federation.placement import Demand, SiteState, fits
from fabriek.federation.simulation import federation_for, place_sequence, simulate
from fabriek.federation.simulation.engine import Refusal, RunResult, Strategy, run
from fabriek.federation.simulation.model import OrgType, SimPartition, SimUser
from fabriek.federation.simulation.trace import TraceJob, bundled_trace, load_trace

pytestmark = pytest.mark.unit
MODES = AccessPolicy.load().modes
A, B = SimPartition("fa", "gpu", 8, 8), SimPartition("fb", "gpu", 8, 8)


def _user(name: str, rank: int, home: str, grant: float = 1e9) -> SimUser:
    cls = "priority" if rank == 600 else "standard"
    return SimUser(name, OrgType.startup if rank == 600 else OrgType.research,
                   "fast-lane" if rank == 600 else "ai-for-science", cls, rank, grant, home)


USERS = {"std": _user("std", 500, "fa"), "res": _user("res", 500, "fb"),
         "fast": _user("fast", 600, "fa")}
# (id, user, submit, duration, GPUs)
SCENARIO = [TraceJob(i, u, t, d, g, 1) for i, u, t, d, g in [
    ("J0", "std", 0, 100, 8),
    ("J1", "res", 0, 50, 8),
    ("J2", "std", 10, 30, 6),
    ("J3", "fast", 20, 10, 4),   # priority class
    ("J4", "std", 30, 5, 1),     # short: backfills
    ("J5", "std", 31, 20, 1),    # runs past the shadow time: only into the extra GPUs
]]


def _starts(result: RunResult) -> dict[str, tuple[int, str]]:
    return {j.id: (result.start_s[i], result.partitions[result.site[i]].factory_id)
            for i, j in enumerate(SCENARIO)}


def test_policy_start_times_by_hand():
    result = run(SCENARIO, USERS, [A, B], strategy=Strategy.policy)
    # t=0: J0 and J1 fit both partitions; rank_sites breaks the tie by key: J0 → fa, J1 → fb.
    # t=50: J1 ends. J3 (priority, submitted at 20) overtakes J2 (standard, at 10) onto fb.
    #   J2 (6 GPUs) cannot start: its reservation is fb at t=60 (J3's end) with 2 GPUs extra.
    #   J4 ends by 55 ≤ 60: backfilled. J5 would run to 70: allowed only into the extra GPUs.
    # t=60: J3 ends, 7 GPUs free on fb: J2 starts.
    assert _starts(result) == {"J0": (0, "fa"), "J1": (0, "fb"), "J2": (60, "fb"),
                               "J3": (50, "fb"), "J4": (50, "fb"), "J5": (50, "fb")}
    assert result.decisions == 6 and not result.refused


def test_baseline_start_times_by_hand():
    result = run(SCENARIO, USERS, [A, B], strategy=Strategy.baseline)
    # Pinned to fa: std and fast; fb only runs res's J1 and then idles.
    # t=100: J0 ends; FCFS without classes: J2 (at 10) starts before J3 (at 20). J3 (4 GPUs)
    #   waits for t=130 with 4 extra GPUs; J4 and J5 end by 105 and 120: both backfilled.
    assert _starts(result) == {"J0": (0, "fa"), "J1": (0, "fb"), "J2": (100, "fa"),
                               "J3": (130, "fa"), "J4": (100, "fa"), "J5": (100, "fa")}


def test_no_partition_can_hold_a_job_it_is_refused():
    big = [TraceJob("huge", "std", 0, 10, 16, 2)]
    result = run(big, USERS, [A, B])
    assert result.refused == {0: Refusal.no_partition} and result.start_s == [-1]
    # A 2-node job of 16 GPUs fits a 16-GPU partition of 8-GPU nodes, but not of 4-GPU nodes.
    wide = SimPartition("fc", "gpu", 16, 4)
    assert run(big, USERS, [wide]).refused == {0: Refusal.no_partition}
    assert run(big, USERS, [SimPartition("fc", "gpu", 16, 8)]).start_s == [0]


def test_budget_admission_refuses_what_the_allocation_cannot_cover():
    users = {"std": _user("std", 500, "fa", grant=1.0)}  # one GPU-hour
    jobs = [TraceJob("a", "std", 0, 1800, 1, 1),   # 0.5 h: admitted
            TraceJob("b", "std", 1, 3600, 1, 1),   # 1 h more: only 0.5 h left → refused
            TraceJob("c", "std", 2, 1800, 1, 1)]   # 0.5 h: fits exactly
    result = run(jobs, users, [A])
    assert result.refused == {1: Refusal.budget}
    assert result.start_s == [0, -1, 2]


def test_unsorted_jobs_and_unknown_users_are_refused():
    with pytest.raises(ValidationFailed, match="sorted"):
        run(list(reversed(SCENARIO)), USERS, [A, B])
    with pytest.raises(ValidationFailed, match="no SimUser"):
        run([TraceJob("x", "nobody", 0, 1, 1, 1)], USERS, [A])
    with pytest.raises(ValidationFailed, match="unique"):
        run(SCENARIO, USERS, [A, A])


def test_a_horizon_stops_the_replay():
    result = run(SCENARIO, USERS, [A, B], strategy=Strategy.baseline, horizon_s=110)
    assert result.start_s[3] == -1  # J3 would start at 130


def test_place_sequence_returns_site_and_start_per_job_in_the_given_order():
    order = [5, 4, 3, 2, 0, 1]  # equal submit times are decided in the given order: J0, J1
    placed = place_sequence([(SCENARIO[i], SCENARIO[i].submit_s) for i in order], USERS, [A, B])
    assert placed == [(("fb", "gpu"), 50), (("fb", "gpu"), 50), (("fb", "gpu"), 50),
                      (("fb", "gpu"), 60), (("fa", "gpu"), 0), (("fb", "gpu"), 0)]
    # The submit time given is the one used, not the job's own.
    late = place_sequence([(SCENARIO[0], 500)], USERS, [A, B])
    assert late == [(("fa", "gpu"), 500)]


def _check_capacity(jobs: list[TraceJob], result: RunResult) -> None:
    """Every started job fits its partition; no partition is ever over-subscribed."""
    deltas: dict[int, list[tuple[int, int, int]]] = {}
    for i, job in enumerate(jobs):
        start, p = result.start_s[i], result.site[i]
        if start < 0:
            continue
        part = result.partitions[p]
        assert start >= job.submit_s
        assert fits(Demand(job.gpus, job.nodes, 0),
                    SiteState(part.key, part.gpus, part.gpus_per_node, part.gpus)) is None
        # At one instant, ends free GPUs before starts use them.
        deltas.setdefault(p, []).extend([(start, 1, job.gpus),
                                         (start + job.duration_s, 0, -job.gpus)])
    for p, events in deltas.items():
        used = 0
        for _, _, g in sorted(events):
            used += g
            assert 0 <= used <= result.partitions[p].gpus


_job = st.tuples(st.integers(0, 600), st.integers(1, 400), st.sampled_from([1, 1, 2, 4, 8, 12, 16]),
                 st.integers(0, 2), st.sampled_from(["std", "res", "fast"]))
_part = st.tuples(st.sampled_from([4, 8]), st.integers(1, 4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_job, min_size=1, max_size=40), st.lists(_part, min_size=1, max_size=3),
       st.sampled_from(list(Strategy)), st.sampled_from([1.0, 1.5]))
def test_capacity_is_never_exceeded_and_every_holdable_job_runs(raw, parts, strategy, factor):
    partitions = [SimPartition(f"f{k % 2}", f"p{k}", per * nodes, per)
                  for k, (per, nodes) in enumerate(parts)]
    jobs = sorted((TraceJob(f"j{i}", user, submit, dur, gpus,
                            min(gpus, -(-gpus // 8) + extra))
                   for i, (submit, dur, gpus, extra, user) in enumerate(raw)),
                  key=lambda j: j.submit_s)
    homes = sorted({p.factory_id for p in partitions})
    users = {n: dataclasses.replace(u, home_factory=homes[k % len(homes)])
             for k, (n, u) in enumerate(USERS.items())}
    result = run(jobs, users, partitions, strategy=strategy, limit_factor=factor)
    _check_capacity(jobs, result)
    for i in range(len(jobs)):  # no horizon: whatever was admitted has started
        assert (result.start_s[i] >= 0) != (i in result.refused)


def test_jobs_of_zero_duration_start_and_end_at_once():
    jobs = [TraceJob(f"z{i}", "std", 5, 0, 8, 1) for i in range(3)]
    result = run(jobs, USERS, [A])
    assert result.start_s == [5, 5, 5] and result.decisions == 3


def _steady(report):
    zero = {"wall_s": 0.0, "cpu_s": 0.0, "decisions_per_s": 0.0}
    return dataclasses.replace(report, policy=dataclasses.replace(report.policy, **zero),
                               baseline=dataclasses.replace(report.baseline, **zero))


@pytest.fixture(scope="module")
def philly_slice() -> list[TraceJob]:
    jobs, _ = load_trace(bundled_trace())
    return jobs[-1500:]


def test_same_seed_same_report(philly_slice):
    parts = federation_for(philly_slice, load=0.85, factories=3)
    first = simulate(philly_slice, parts, MODES, seed=4)
    assert _steady(first) == _steady(simulate(philly_slice, parts, MODES, seed=4))
    assert _steady(first) != _steady(simulate(philly_slice, parts, MODES, seed=5))
    assert first.policy.decisions == len(philly_slice)


def test_the_report_adds_up(philly_slice):
    parts = federation_for(philly_slice, load=0.85, factories=3)
    report = simulate(philly_slice, parts, MODES, seed=1, budget_factor=0.6)
    for run_report in (report.policy, report.baseline):
        assert 0 < run_report.utilisation <= 1
        assert run_report.placed_share + run_report.refused_share <= 1 + 1e-9
        assert run_report.refused_jobs > 0  # allocations of 60 % of the work refuse some jobs
        admitted = sum(w.jobs for w in run_report.by_class)
        assert admitted == report.jobs - run_report.refused_jobs
        assert sum(w.jobs for w in run_report.by_org_type) == admitted
        for w in run_report.by_class:
            assert w.started <= w.jobs
            assert w.mean_wait_h is None or 0 <= w.mean_wait_h <= w.p95_wait_h + 1e-9 or \
                w.started < 20
    # The same admission decides for both strategies.
    assert report.policy.refused_jobs == report.baseline.refused_jobs
