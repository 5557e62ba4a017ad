"""Pure compute policy: budget admission, GPU-hours, usage warnings, pre-emption choice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabriek.compute import policy as pol

pytestmark = pytest.mark.unit
TODAY = date(2026, 11, 21)
T0 = datetime(2026, 11, 21, 12, tzinfo=UTC)


def _admit(worst: float, *, granted: float = 100, used: float = 0, committed: float = 0,
           active: bool = True, start: date = TODAY, end: date = TODAY + timedelta(days=30)):
    return pol.admit_job(worst_case_gpu_hours=worst,
                         budget=pol.Budget(granted, used, committed),
                         allocation_active=active, start_on=start, end_on=end, today=TODAY)


def test_admit_job_fits_exactly():
    assert _admit(40, used=30, committed=30).admitted


def test_admit_job_refuses_with_the_numbers():
    verdict = _admit(40.5, used=30, committed=30)
    assert not verdict.admitted
    assert "40.50" in verdict.reason and "40.00" in verdict.reason
    assert "30.00 used" in verdict.reason and "30.00 held" in verdict.reason


@pytest.mark.parametrize(("start", "end"), [
    (TODAY + timedelta(days=1), TODAY + timedelta(days=9)),
    (TODAY - timedelta(days=9), TODAY - timedelta(days=1))])
def test_admit_job_outside_the_allocation_window(start, end):
    verdict = _admit(1, start=start, end=end)
    assert not verdict.admitted and "not active" in verdict.reason


def test_admit_job_exhausted_allocation_admits_nothing():
    assert not _admit(0.01, used=100).admitted


@given(granted=st.floats(1, 1e6), jobs=st.lists(st.floats(0, 1e4), max_size=40))
def test_admitted_worst_cases_never_exceed_the_grant(granted, jobs):
    committed = 0.0
    for worst in jobs:
        if _admit(worst, granted=granted, committed=committed).admitted:
            committed += worst
    assert committed <= granted + 1e-6


def test_run_gpu_hours():
    assert pol.run_gpu_hours(4, T0, T0 + timedelta(minutes=30)) == 2.0
    assert pol.run_gpu_hours(4, None, T0) == 0.0
    assert pol.run_gpu_hours(4, T0, T0 - timedelta(seconds=1)) == 0.0


def test_thresholds_crossed_once_each():
    assert pol.thresholds_crossed(100, 10, 80) == [75]
    assert pol.thresholds_crossed(100, 80, 95, already_sent=[75]) == [90]
    assert pol.thresholds_crossed(100, 0, 120) == [75, 90, 100]
    assert pol.thresholds_crossed(100, 95, 99, already_sent=[75, 90]) == []


def _running(job_id: int, rank: int, gpus: int, minutes_ago: int) -> pol.RunningJob:
    return pol.RunningJob(job_id, rank, gpus, T0 - timedelta(minutes=minutes_ago))


def test_preemption_takes_lowest_class_most_recent_first():
    running = [_running(1, 300, 2, 60), _running(2, 300, 2, 5), _running(3, 600, 2, 1)]
    assert pol.preemption_victims(incoming_rank=1000, incoming_gpus=2, free_gpus=0,
                                  running=running) == [2]
    assert pol.preemption_victims(incoming_rank=1000, incoming_gpus=4, free_gpus=0,
                                  running=running) == [2, 1]


def test_preemption_never_takes_equal_or_higher_classes():
    running = [_running(1, 1000, 4, 5)]
    assert pol.preemption_victims(incoming_rank=1000, incoming_gpus=2, free_gpus=0,
                                  running=running) is None


def test_preemption_not_needed_when_it_fits():
    assert pol.preemption_victims(incoming_rank=1000, incoming_gpus=2, free_gpus=2,
                                  running=[_running(1, 300, 2, 5)]) == []
