"""The observatory's pure figures: percentiles, time to first job, GPU-hours by group, the
start-up share, utilisation and waits, models past the AI Act thresholds."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabriek.access.enums import ProposalState
from fabriek.access.policy import OrganisationFacts
from fabriek.access.policy_files import AccessPolicy
from fabriek.identity.enums import OrganisationKind
from fabriek.observatory import metrics as m

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
S = ProposalState


@pytest.fixture(scope="module")
def classification():  # type: ignore[no-untyped-def]
    return AccessPolicy.load().classification


def _type7(data: list[float], q: float) -> float:
    """The textbook definition the service promises (Hyndman & Fan type 7)."""
    xs = sorted(data)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    return xs[lo] + (h - lo) * (xs[min(lo + 1, len(xs) - 1)] - xs[lo])


def _proposal(pid: int, *, mode: str = "playground", org: int = 1, state: S = S.accepted,
              hours: float | None = None, gpu_hours: float = 100, sector: str = "health",
              submitted_at: datetime = T0) -> m.ProposalRecord:
    started = None if hours is None else submitted_at + timedelta(hours=hours)
    return m.ProposalRecord(pid, org, mode, sector, state, submitted_at, gpu_hours,
                            first_job_started_at=started)


# --- percentiles ------------------------------------------------------------------------------


def test_summary_of_nothing_one_and_two_values():
    assert m.summarise([]) == m.Summary(0, None, None)
    assert m.summarise([7.5]) == m.Summary(1, 7.5, 7.5)
    assert m.summarise([10.0, 0.0]) == m.Summary(2, 5.0, 9.0)


def test_summary_interpolates_between_closest_ranks():
    s = m.summarise(range(1, 11))  # 1..10: p90 sits at rank 8.1 (0-based)
    assert (s.count, s.median, s.p90) == (10, 5.5, pytest.approx(9.1))


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_summary_is_type_7_and_ordered(values):
    s = m.summarise(values)
    assert s.count == len(values)
    assert s.median == pytest.approx(_type7(values, 0.5), rel=1e-9, abs=1e-9)
    assert s.p90 == pytest.approx(_type7(values, 0.9), rel=1e-9, abs=1e-9)
    assert min(values) <= s.median <= s.p90 + 1e-9 <= max(values) + 1e-9
    assert m.summarise(reversed(values)) == s


# --- time from application to first running job ---------------------------------------------


def test_time_to_first_job_with_no_proposals_lists_the_modes():
    timings = m.time_to_first_job([], ["playground", "fast-lane"])
    assert [(t.mode, t.hours.count, t.waiting, t.hours.median) for t in timings] == [
        ("playground", 0, 0, None), ("fast-lane", 0, 0, None)]


def test_time_to_first_job_one_proposal():
    [t] = m.time_to_first_job([_proposal(1, hours=1.5)], ["playground"])
    assert (t.hours.count, t.hours.median, t.hours.p90, t.waiting) == (1, 1.5, 1.5, 0)


def test_proposals_without_a_job_wait_unless_refused():
    proposals = [_proposal(1, hours=2), _proposal(2, hours=4),
                 _proposal(3, state=S.accepted), _proposal(4, state=S.in_review),
                 _proposal(5, state=S.rejected), _proposal(6, state=S.withdrawn),
                 _proposal(7, mode="emergency", hours=0.25)]
    by_mode = {t.mode: t for t in m.time_to_first_job(proposals, ["playground"])}
    assert list(by_mode) == ["playground", "emergency"]
    playground = by_mode["playground"]
    assert (playground.hours.count, playground.waiting) == (2, 2)
    assert (playground.hours.median, playground.hours.p90) == (3.0, pytest.approx(3.8))
    assert by_mode["emergency"].hours.median == 0.25


# --- organisation types -------------------------------------------------------------------------


def _facts(kind: OrganisationKind = OrganisationKind.enterprise, **over) -> OrganisationFacts:  # type: ignore[no-untyped-def]
    base = {"country": "NL", "founded_on": date(2024, 5, 1), "headcount": 12,
            "turnover_eur": Decimal(1_200_000), "balance_sheet_eur": Decimal(800_000)}
    return OrganisationFacts(kind=kind, **{**base, **over})


@pytest.mark.parametrize(("facts", "expected"), [
    (_facts(), m.OrganisationType.startup),
    (_facts(founded_on=date(2001, 1, 1)), m.OrganisationType.sme),
    (_facts(headcount=4000, turnover_eur=Decimal("9e9")), m.OrganisationType.large),
    (_facts(headcount=None), m.OrganisationType.large),  # unknown size counts as large
    (_facts(OrganisationKind.research), m.OrganisationType.research),
    (_facts(OrganisationKind.public_authority), m.OrganisationType.public),
    (_facts(OrganisationKind.eu_project), m.OrganisationType.eu_project),
])
def test_organisation_types(classification, facts, expected):
    keys = m.proposal_keys([_proposal(1)], {1: facts}, classification, lambda s: s)
    assert keys[1].organisation_type is expected


def test_the_type_is_the_one_on_the_day_of_submission(classification):
    founded = date(2020, 3, 1)  # a start-up until 2025-03-01 (five years)
    early = _proposal(1, submitted_at=datetime(2024, 6, 1, tzinfo=UTC))
    late = _proposal(2, submitted_at=datetime(2026, 6, 1, tzinfo=UTC))
    keys = m.proposal_keys([early, late], {1: _facts(founded_on=founded)}, classification,
                           lambda s: None)
    assert (keys[1].organisation_type, keys[2].organisation_type) == (
        m.OrganisationType.startup, m.OrganisationType.sme)
    assert keys[1].sector == m.OTHER_SECTOR and keys[1].country == "NL"


# --- GPU-hours by group ---------------------------------------------------------------------


def _keys(**by_id: tuple[m.OrganisationType, str, str]) -> dict[int, m.ProposalKeys]:
    return {int(k[1:]): m.ProposalKeys(*v) for k, v in by_id.items()}


def test_gpu_hours_by_every_dimension():
    proposals = [_proposal(1, gpu_hours=1000), _proposal(2, gpu_hours=5000),
                 _proposal(3, gpu_hours=300, state=S.rejected)]
    keys = _keys(p1=(m.OrganisationType.startup, "NL", "health"),
                 p2=(m.OrganisationType.large, "DE", "energy"),
                 p3=(m.OrganisationType.startup, "NL", "health"))
    allocations = [m.AllocationRecord(10, 1, "local", 800), m.AllocationRecord(11, 2, "jaif", 5000),
                   m.AllocationRecord(12, 2, "local", 100)]
    usage = [m.UsageRecord(1, "local", 40.5), m.UsageRecord(2, "local", 10),
             m.UsageRecord(2, "jaif", 90)]

    by = m.gpu_hours_by(proposals, allocations, usage, keys)

    def rows(d: m.Dimension) -> dict[str, tuple[float, float, float, int]]:
        return {g.key: (g.requested, g.allocated, g.used, g.proposals) for g in by[d]}

    assert rows(m.Dimension.country) == {"DE": (5000, 5100, 100, 1), "NL": (1300, 800, 40.5, 2)}
    assert rows(m.Dimension.sector) == {"energy": (5000, 5100, 100, 1),
                                        "health": (1300, 800, 40.5, 2)}
    assert rows(m.Dimension.factory) == {"jaif": (5000, 5000, 90, 1),
                                         "local": (1000, 900, 50.5, 1),
                                         m.NOT_ALLOCATED: (300, 0, 0, 1)}
    assert [g.key for g in by[m.Dimension.factory]] == ["jaif", "local", m.NOT_ALLOCATED]
    types = rows(m.Dimension.organisation_type)
    assert list(types) == [t.value for t in m.OrganisationType]  # all six, in order
    assert types["start-up"] == (1300, 800, 40.5, 2) and types["research"] == (0, 0, 0, 0)
    for d in m.Dimension:
        t = m.totals(by[d])
        assert (t.requested, t.allocated, t.used, t.proposals) == (6300, 5900, 140.5, 3)


def test_gpu_hours_of_nothing():
    by = m.gpu_hours_by([], [], [], {})
    assert [len(by[d]) for d in m.Dimension] == [6, 0, 0, 0]
    assert m.startup_share(by[m.Dimension.organisation_type]) == m.StartupShare(
        0.0, 0.0, 0.0, None, None)


def test_the_share_going_to_startups_and_smes():
    groups = [m.HoursGroup("start-up", allocated=300), m.HoursGroup("sme", allocated=200),
              m.HoursGroup("large", allocated=500), m.HoursGroup("research")]
    assert m.startup_share(groups) == m.StartupShare(1000, 300, 200, 0.3, 0.5)


# --- utilisation and queue waits ---------------------------------------------------------------


def test_factory_loads_over_a_window():
    window = m.Window(T0, T0 + timedelta(days=1))
    loads = m.factory_loads(
        [m.FactoryCapacity("local", 4), m.FactoryCapacity("local", 4),
         m.FactoryCapacity("idle", 8)],
        {"local": 48.0, "gone": 2.0},
        [m.JobWait("local", 0.5), m.JobWait("local", 1.5), m.JobWait("local", -0.001)],
        window)
    by = {f.factory: f for f in loads}
    assert list(by) == ["gone", "idle", "local"]
    assert (by["local"].gpus, by["local"].capacity_gpu_hours, by["local"].utilisation) == (
        8, 192.0, 0.25)
    assert (by["local"].waits.count, by["local"].waits.median) == (3, 0.5)
    assert by["idle"].utilisation == 0.0 and by["idle"].waits == m.Summary(0, None, None)
    assert by["gone"].utilisation is None  # jobs, but no connected capacity any more


def test_factory_loads_of_nothing():
    assert m.factory_loads([], {}, [], m.Window(T0, T0)) == []


# --- models past the AI Act thresholds ---------------------------------------------------


def test_models_past_thresholds_hide_confidential_ones():
    models = [m.ModelRecord(1, "Lumen Vision B.V.", "tulip-7b", 3e23, "estimate", False),
              m.ModelRecord(2, "Secret Labs", "secret-model", 2e25, "reported", True),
              m.ModelRecord(3, "Small Co", "tiny", 9.9e22, "estimate", False)]
    past = m.models_past_thresholds(models)
    assert past.counts == {23: 2, 25: 1}
    assert [(p.model, p.organisation, p.threshold_exponent) for p in past.models] == [
        (m.CONFIDENTIAL, m.CONFIDENTIAL, 25), ("tulip-7b", "Lumen Vision B.V.", 23)]
    assert all("Secret" not in repr(p) and "secret" not in repr(p) for p in past.models)


def test_a_model_exactly_at_the_threshold_counts():
    past = m.models_past_thresholds([m.ModelRecord(1, "A", "a", 1e23, "reported", False)])
    assert past.counts == {23: 1, 25: 0}
    assert m.models_past_thresholds([]) == m.ModelsPast({23: 0, 25: 0}, [])
