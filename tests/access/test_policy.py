"""Pure access policy: SME classification, eligibility, cut-offs, transitions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabriek.access import policy as pol
from fabriek.access.enums import ApplicantCategory as C
from fabriek.access.enums import ProposalState as S
from fabriek.access.enums import SizeClass
from fabriek.errors import InvalidTransition
from fabriek.identity.enums import OrganisationKind as K

pytestmark = pytest.mark.unit
TODAY = date(2026, 11, 21)


def facts(**over) -> pol.OrganisationFacts:  # type: ignore[no-untyped-def]
    base = {"kind": K.enterprise, "country": "NL", "founded_on": date(2024, 1, 1),
            "headcount": 12, "turnover_eur": Decimal("1200000"),
            "balance_sheet_eur": Decimal("800000")}
    return pol.OrganisationFacts(**{**base, **over})


@pytest.mark.parametrize(("headcount", "turnover", "balance", "expected"), [
    (9, "2000000", "2000000", SizeClass.micro),
    (10, "2000000", "2000000", SizeClass.small),  # "fewer than 10" staff
    (49, "10000000", "99999999", SizeClass.small),  # turnover within: balance may exceed
    (49, "99999999", "10000000", SizeClass.small),  # or the other way round
    (249, "50000000", "43000000", SizeClass.medium),
    (249, "50000001", "43000000", SizeClass.medium),  # balance sheet alone suffices
    (249, "50000001", "43000001", SizeClass.large),  # both ceilings exceeded
    (250, "1000", "1000", SizeClass.large),  # staff ceiling is absolute
])
def test_classify_organisation_follows_rec_2003_361_ceilings(
        access_policy, headcount, turnover, balance, expected):
    result = pol.classify_organisation(
        facts(headcount=headcount, turnover_eur=Decimal(turnover),
              balance_sheet_eur=Decimal(balance), founded_on=date(2000, 1, 1)),
        access_policy.classification, TODAY)
    assert result.size_class is expected
    assert result.is_sme == (expected is not SizeClass.large)


def test_classify_organisation_young_sme_is_a_startup(access_policy):
    result = pol.classify_organisation(facts(), access_policy.classification, TODAY)
    assert result.categories == {C.sme, C.startup}
    assert any("start-up" in r for r in result.reasons)


def test_classify_organisation_startup_age_boundary(access_policy):
    limit = access_policy.classification.startup_max_age_years
    day_before = pol.classify_organisation(
        facts(founded_on=date(TODAY.year - limit, TODAY.month, TODAY.day + 1)),
        access_policy.classification, TODAY)
    on_the_day = pol.classify_organisation(
        facts(founded_on=date(TODAY.year - limit, TODAY.month, TODAY.day)),
        access_policy.classification, TODAY)
    assert day_before.is_startup is True
    assert on_the_day.is_startup is False


def test_classify_organisation_public_control_is_not_an_sme(access_policy):
    result = pol.classify_organisation(facts(public_control=True),
                                       access_policy.classification, TODAY)
    assert result.categories == {C.large_enterprise}
    assert "Art. 3(4)" in result.reasons[0]


def test_classify_organisation_missing_figures_is_not_an_sme(access_policy):
    result = pol.classify_organisation(facts(turnover_eur=None, balance_sheet_eur=None),
                                       access_policy.classification, TODAY)
    assert result.size_class is SizeClass.unknown
    assert not result.is_sme


@pytest.mark.parametrize(("kind", "category"), [
    (K.research, C.research), (K.public_authority, C.public_authority),
    (K.eu_project, C.eu_project)])
def test_classify_organisation_non_enterprises_by_kind(access_policy, kind, category):
    result = pol.classify_organisation(facts(kind=kind), access_policy.classification, TODAY)
    assert result.categories == {category}


money = st.decimals(min_value=0, max_value=Decimal("1e9"), places=2, allow_nan=False)


@given(headcount=st.integers(0, 100_000), turnover=money, balance=money,
       founded=st.dates(date(1900, 1, 1), TODAY))
def test_classify_organisation_properties(access_policy, headcount, turnover, balance, founded):
    c = access_policy.classification
    result = pol.classify_organisation(
        facts(headcount=headcount, turnover_eur=turnover, balance_sheet_eur=balance,
              founded_on=founded), c, TODAY)
    sme = headcount < c.medium.staff_below and (
        turnover <= c.medium.turnover_max_eur or balance <= c.medium.balance_sheet_max_eur)
    assert result.is_sme == sme
    assert result.is_startup == (sme and pol.years_between(founded, TODAY)
                                 < c.startup_max_age_years)
    assert (C.large_enterprise in result.categories) == (not sme)
    assert result.reasons  # always explained


@given(headcount=st.integers(0, 300), turnover=money, balance=money,
       extra_staff=st.integers(0, 300))
def test_classify_organisation_more_staff_never_makes_smaller(
        access_policy, headcount, turnover, balance, extra_staff):
    order = [SizeClass.micro, SizeClass.small, SizeClass.medium, SizeClass.large]
    c = access_policy.classification
    small = pol.classify_organisation(facts(headcount=headcount, turnover_eur=turnover,
                                            balance_sheet_eur=balance), c, TODAY)
    big = pol.classify_organisation(facts(headcount=headcount + extra_staff,
                                          turnover_eur=turnover, balance_sheet_eur=balance),
                                    c, TODAY)
    assert order.index(big.size_class) >= order.index(small.size_class)


@pytest.mark.parametrize("code", ["NL", "DE", "GR", "IS", "NO", "TR", "GB", "CH", "IL", "RS",
                                  "UA", "XK"])
def test_check_eligibility_accepts_members_participants_and_associated(access_policy, code):
    assert pol.check_eligibility(code, access_policy.eligibility).eligible


@pytest.mark.parametrize("code", ["US", "CN", "RU", "BR", "IN", "EL"])
def test_check_eligibility_refuses_others_with_a_reason(access_policy, code):
    result = pol.check_eligibility(code, access_policy.eligibility)
    assert not result.eligible
    assert code in result.reason and "not eligible" in result.reason


def test_eligibility_policy_lists_all_27_member_states(access_policy):
    [eu] = [g for g in access_policy.eligibility.groups if g.id == "eu_member_state"]
    assert len(eu.countries) == 27


@given(st.sampled_from(["AT", "NL", "US", "JP", "GB", "XK"]))
def test_check_eligibility_is_case_insensitive(access_policy, code):
    assert (pol.check_eligibility(code.lower(), access_policy.eligibility).eligible
            == pol.check_eligibility(code, access_policy.eligibility).eligible)


def test_next_cutoff_uses_published_dates_then_rules(access_policy):
    schedule = access_policy.modes.mode("large-scale").cutoffs
    first = pol.next_cutoff(schedule, datetime(2026, 2, 1, tzinfo=UTC))
    assert first == datetime(2026, 2, 16, 9, 0, tzinfo=UTC)  # 10:00 CET
    # 2027 has no published dates: the 15th (rolled forward) and the last working day.
    jan = pol.next_cutoff(schedule, datetime(2027, 1, 1, tzinfo=UTC))
    assert jan.date() == date(2027, 1, 15)
    after = pol.next_cutoff(schedule, datetime(2027, 1, 16, tzinfo=UTC))
    assert after.date() == date(2027, 1, 29)  # 31 Jan 2027 is a Sunday


def test_next_cutoff_ai_for_science_after_today(access_policy):
    schedule = access_policy.modes.mode("ai-for-science").cutoffs
    assert pol.next_cutoff(schedule, datetime(2026, 11, 21, tzinfo=UTC)).date() == date(
        2026, 12, 11)
    assert pol.next_cutoff(schedule, datetime(2026, 12, 12, tzinfo=UTC)).date() == date(
        2027, 2, 26)  # last working day of February 2027


@given(st.datetimes(datetime(2026, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC)))
def test_next_cutoff_is_always_later_and_on_a_weekday(access_policy, moment):
    for mode in ("large-scale", "ai-for-science"):
        cutoff = pol.next_cutoff(access_policy.modes.mode(mode).cutoffs, moment)
        assert cutoff > moment
        assert cutoff.weekday() < 5


@pytest.mark.parametrize(("current", "target"), [
    (S.draft, S.accepted), (S.accepted, S.withdrawn), (S.withdrawn, S.submitted),
    (S.rejected, S.accepted), (S.in_review, S.draft), (S.accepted_reduced, S.appealed)])
def test_check_transition_refuses_moves_not_in_the_table(current, target):
    with pytest.raises(InvalidTransition):
        pol.check_transition(current, target)


def test_transitions_cover_every_state():
    assert set(pol.TRANSITIONS) == set(S)
    for targets in pol.TRANSITIONS.values():
        assert targets <= set(S)


@pytest.mark.parametrize(("start", "months", "end"), [
    (date(2026, 1, 31), 1, date(2026, 2, 27)), (date(2026, 3, 1), 3, date(2026, 5, 31)),
    (date(2026, 11, 21), 12, date(2027, 11, 20))])
def test_allocation_end_is_inclusive_and_month_clamped(start, months, end):
    assert pol.allocation_end(start, months) == end
