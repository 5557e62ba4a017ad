"""Pure capacity arithmetic: weeks, maintenance, commitments spread over their days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabriek.federation import capacity as cap
from fabriek.federation.domain import (
    CapacityBasis,
    Commitment,
    MaintenanceWindow,
    PartitionProfile,
)

pytestmark = pytest.mark.unit
MON = date(2026, 11, 23)  # a Monday
P = PartitionProfile("f1", "gpu", "H100-SXM5-80GB", 80, 4, 2, CapacityBasis.operator)  # 8 GPUs


def _weeks(commitments, start=MON, end=MON + timedelta(days=6)):
    return cap.committed_weeks(commitments, P.key, start, end)


def test_week_of_and_weeks_between():
    assert cap.week_of(date(2026, 11, 29)) == MON  # a Sunday
    assert cap.week_of(MON) == MON
    assert cap.weeks_between(date(2026, 11, 25), date(2026, 12, 8)) == [
        MON, MON + timedelta(days=7), MON + timedelta(days=14)]


def test_committed_weeks_count_a_commitment_ending_before_the_request_in_its_week():
    """The bug the property test below found: whole weeks, not the request's days."""
    before = Commitment("f1", "gpu", 700, MON, MON + timedelta(days=2))
    assert _weeks([before], MON + timedelta(days=5), MON + timedelta(days=6)) == {MON: 700}


def test_spread_is_even_over_the_days_and_adds_up():
    start, end = date(2026, 11, 26), date(2026, 12, 9)  # 14 days over three weeks
    shares = [cap.spread(1400, start, end, w) for w in cap.weeks_between(start, end)]
    assert shares == [400, 700, 300]
    assert sum(shares) == 1400


def test_a_week_without_maintenance_or_commitments_has_all_gpu_hours():
    [week] = cap.week_table(P, {}, [], MON, MON + timedelta(days=6))
    assert week.exists == 8 * 168 and week.free == 8 * 168


def test_maintenance_takes_its_overlap_and_only_its_gpus():
    windows = [
        # 10 hours of the whole factory, half of it before the week starts
        MaintenanceWindow("f1", None, datetime(2026, 11, 22, 19, tzinfo=UTC),
                          datetime(2026, 11, 23, 5, tzinfo=UTC)),
        # 24 hours of 2 GPUs of this partition
        MaintenanceWindow("f1", "gpu", datetime(2026, 11, 25, tzinfo=UTC),
                          datetime(2026, 11, 26, tzinfo=UTC), gpus=2),
        MaintenanceWindow("f2", None, datetime(2026, 11, 25, tzinfo=UTC),  # another factory
                          datetime(2026, 11, 26, tzinfo=UTC)),
        MaintenanceWindow("f1", "cpu", datetime(2026, 11, 25, tzinfo=UTC),  # another partition
                          datetime(2026, 11, 26, tzinfo=UTC)),
    ]
    assert cap.maintenance_hours(P, windows, MON) == 5 * 8 + 24 * 2


def test_a_week_long_outage_leaves_nothing_and_never_goes_negative():
    window = MaintenanceWindow("f1", None, datetime(2026, 11, 1, tzinfo=UTC),
                               datetime(2027, 1, 1, tzinfo=UTC), gpus=100)
    assert cap.maintenance_hours(P, [window], MON) == 8 * 168


def test_fit_refuses_with_the_tightest_week_named():
    committed = _weeks([Commitment("f1", "gpu", 8 * 168 - 100, MON, MON + timedelta(days=6))])
    verdict = cap.fit(P, committed, [], 200, MON, MON + timedelta(days=6))
    assert not verdict.fits
    assert f"week of {MON}" in verdict.message and "100 GPU-hours free" in verdict.message
    assert cap.fit(P, committed, [], 100, MON, MON + timedelta(days=6)).fits


def test_commitments_elsewhere_do_not_count():
    other = [Commitment("f1", "other", 10_000, MON, MON + timedelta(days=6)),
             Commitment("f2", "gpu", 10_000, MON, MON + timedelta(days=6))]
    assert cap.fit(P, _weeks(other), [], 8 * 168, MON, MON + timedelta(days=6)).fits


def test_a_system_not_in_operation_has_no_capacity():
    verdict = cap.fit(P, {}, [], 1, MON, MON, operational=False)
    assert not verdict.fits and "not in operation" in verdict.message


def test_a_window_ending_before_it_starts_is_refused():
    assert not cap.fit(P, {}, [], 1, MON, MON - timedelta(days=1)).fits


def test_headroom_is_the_smallest_ratio():
    verdict = cap.fit(P, {}, [], 8 * 168 / 4, MON, MON + timedelta(days=6))
    assert verdict.headroom == pytest.approx(4.0)


requests = st.lists(st.tuples(st.integers(1, 3000), st.integers(0, 60), st.integers(0, 90)),
                    max_size=40)


@settings(max_examples=80, deadline=None)
@given(requests)
def test_accepting_only_what_fits_never_over_commits_any_week(reqs):
    """Greedy acceptance through `fit` keeps every week within what exists."""
    accepted: list[Commitment] = []
    for hours, offset, length in reqs:
        start = MON + timedelta(days=offset)
        end = start + timedelta(days=length)
        if cap.fit(P, _weeks(accepted, start, end), [], hours, start, end).fits:
            accepted.append(Commitment("f1", "gpu", hours, start, end))
    horizon_end = MON + timedelta(days=160)
    for week in cap.week_table(P, _weeks(accepted, MON, horizon_end), [], MON, horizon_end):
        assert week.committed <= week.exists + 1e-6
