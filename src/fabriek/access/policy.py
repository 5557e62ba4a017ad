"""Pure access policy: size classification, eligibility, cut-offs and proposal transitions.

Encodes Commission Recommendation 2003/361/EC (SME definition), the EuroHPC AI Factories access
rules (establishment in an EU member state, a EuroHPC participating state or a country
associated to Horizon Europe / Digital Europe) and the access-modes policy file. Expects the
policy files of version 2026-11-21 or later (fabriek/policy/*.yaml). No I/O here.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fabriek.access.enums import ApplicantCategory, ProposalState, SizeClass
from fabriek.access.policy_files import (
    ClassificationPolicy,
    CutoffRule,
    CutoffSchedule,
    EligibilityPolicy,
    Roll,
    SizeCeiling,
)
from fabriek.errors import InvalidTransition
from fabriek.identity.enums import OrganisationKind


@dataclass(frozen=True)
class OrganisationFacts:
    kind: OrganisationKind
    country: str
    founded_on: date | None = None
    headcount: int | None = None
    turnover_eur: Decimal | None = None
    balance_sheet_eur: Decimal | None = None
    public_control: bool = False  # 25 % or more held by public bodies (Rec. 2003/361 Art. 3(4))


@dataclass(frozen=True)
class Classification:
    size_class: SizeClass
    categories: frozenset[ApplicantCategory]
    reasons: tuple[str, ...]

    @property
    def is_sme(self) -> bool:
        return ApplicantCategory.sme in self.categories

    @property
    def is_startup(self) -> bool:
        return ApplicantCategory.startup in self.categories


def _within(facts: OrganisationFacts, ceiling: SizeCeiling) -> bool:
    # Rec. 2003/361 Art. 2: staff below the ceiling AND (turnover OR balance sheet within it).
    assert facts.headcount is not None
    turnover_ok = facts.turnover_eur is not None and facts.turnover_eur <= ceiling.turnover_max_eur
    balance_ok = (
        facts.balance_sheet_eur is not None
        and facts.balance_sheet_eur <= ceiling.balance_sheet_max_eur
    )
    return facts.headcount < ceiling.staff_below and (turnover_ok or balance_ok)


def years_between(start: date, end: date) -> int:
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return years


def classify_organisation(
    facts: OrganisationFacts, policy: ClassificationPolicy, today: date
) -> Classification:
    """Derive size class and applicant categories, with the reasons, from vouched facts."""
    if facts.kind is not OrganisationKind.enterprise:
        category = {
            OrganisationKind.research: ApplicantCategory.research,
            OrganisationKind.public_authority: ApplicantCategory.public_authority,
            OrganisationKind.eu_project: ApplicantCategory.eu_project,
        }[facts.kind]
        return Classification(SizeClass.not_enterprise, frozenset({category}),
                              (f"a {facts.kind.value} organisation is not classified by size",))
    if facts.headcount is None or (facts.turnover_eur is None and facts.balance_sheet_eur is None):
        return Classification(
            SizeClass.unknown, frozenset({ApplicantCategory.large_enterprise}),
            ("staff and turnover or balance sheet are needed to qualify as an SME "
             "(Rec. 2003/361 Art. 2); treated as a large enterprise until given",),
        )
    if facts.public_control and policy.public_control_excludes_sme:
        return Classification(
            SizeClass.large, frozenset({ApplicantCategory.large_enterprise}),
            ("25 % or more is controlled by public bodies, so it is not an SME "
             "(Rec. 2003/361 Art. 3(4))",),
        )
    tiers = ((SizeClass.micro, policy.micro), (SizeClass.small, policy.small),
             (SizeClass.medium, policy.medium))
    fit = next(((size, ceiling) for size, ceiling in tiers if _within(facts, ceiling)), None)
    if fit is None:
        return Classification(
            SizeClass.large, frozenset({ApplicantCategory.large_enterprise}),
            (f"{facts.headcount} staff and the financial figures exceed the SME ceilings "
             f"(fewer than {policy.medium.staff_below} staff and turnover ≤ "
             f"€{policy.medium.turnover_max_eur:,.0f} or balance sheet ≤ "
             f"€{policy.medium.balance_sheet_max_eur:,.0f}; Rec. 2003/361 Art. 2)",),
        )
    size, ceiling = fit
    reasons = [f"{size.value} enterprise: fewer than {ceiling.staff_below} staff and turnover "
               f"≤ €{ceiling.turnover_max_eur:,.0f} or balance sheet ≤ "
               f"€{ceiling.balance_sheet_max_eur:,.0f} (Rec. 2003/361 Art. 2)"]
    categories = {ApplicantCategory.sme}
    if facts.founded_on is not None:
        age = years_between(facts.founded_on, today)
        if 0 <= age < policy.startup_max_age_years:
            categories.add(ApplicantCategory.startup)
            reasons.append(f"start-up: an SME founded {age} year(s) ago, under "
                           f"{policy.startup_max_age_years} ({policy.startup_source})")
        else:
            reasons.append(f"not a start-up: founded {age} year(s) ago, the limit is "
                           f"{policy.startup_max_age_years}")
    else:
        reasons.append("not a start-up: founding date not given")
    return Classification(size, frozenset(categories), tuple(reasons))


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    country: str
    groups: tuple[str, ...]  # ids of the groups that make it eligible
    reason: str


def check_eligibility(country: str, policy: EligibilityPolicy) -> Eligibility:
    """Is an organisation established in `country` eligible? Nationality plays no part."""
    code = country.upper()
    matched = tuple(g.id for g in policy.groups if any(c.code == code for c in g.countries))
    if matched:
        labels = "; ".join(g.label for g in policy.groups if g.id in matched)
        return Eligibility(True, code, matched,
                           f"{code} qualifies as: {labels} (eligibility policy {policy.version})")
    return Eligibility(False, code, (),
                       f"organisations established in {code} are not eligible: it is neither an "
                       "EU member state, a EuroHPC participating state nor associated to "
                       f"Horizon Europe or Digital Europe (eligibility policy {policy.version})")


# --- cut-offs --------------------------------------------------------------------------------


def _rolled(day: date, roll: Roll) -> date:
    while day.weekday() >= 5:  # Saturday, Sunday
        day += timedelta(days=1 if roll is Roll.following else -1)
    return day


def _rule_dates(rule: CutoffRule, year: int) -> list[date]:
    out = []
    for month in rule.months or range(1, 13):
        last = calendar.monthrange(year, month)[1]
        out.append(_rolled(date(year, month, last if rule.day == -1 else rule.day), rule.roll))
    return out


def cutoff_dates(schedule: CutoffSchedule, year: int) -> list[date]:
    """Cut-off days in `year`: the published dates if any fall in it, else the rules."""
    published = sorted(d for d in schedule.dates if d.year == year)
    if published:
        return published
    return sorted({d for rule in schedule.rules for d in _rule_dates(rule, year)})


def next_cutoff(schedule: CutoffSchedule, after: datetime) -> datetime:
    """The first cut-off strictly after `after` (an aware datetime)."""
    tz = ZoneInfo(schedule.timezone)
    local = after.astimezone(tz)
    for year in (local.year, local.year + 1, local.year + 2):
        for day in cutoff_dates(schedule, year):
            moment = datetime.combine(day, schedule.time, tzinfo=tz)
            if moment > local:
                return moment.astimezone(after.tzinfo)
    raise ValueError("cut-off schedule yields no date in the next two years")


def add_working_days(start: datetime, days: int) -> datetime:
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


# --- the proposal lifecycle ------------------------------------------------------------------

S = ProposalState
TRANSITIONS: dict[ProposalState, frozenset[ProposalState]] = {
    S.draft: frozenset({S.submitted, S.withdrawn}),
    S.submitted: frozenset({S.in_review, S.accepted, S.accepted_reduced, S.rejected,
                            S.withdrawn}),
    S.in_review: frozenset({S.accepted, S.accepted_reduced, S.rejected, S.withdrawn}),
    S.rejected: frozenset({S.appealed}),
    S.appealed: frozenset({S.in_review, S.rejected, S.withdrawn}),
    S.accepted: frozenset(),
    S.accepted_reduced: frozenset(),
    S.withdrawn: frozenset(),
}


def check_transition(current: ProposalState, target: ProposalState) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"a proposal cannot go from {current.value} to {target.value}",
            current=current.value, target=target.value,
        )


def add_months(start: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def allocation_end(start: date, duration_months: int) -> date:
    """The last day of an allocation that starts on `start` (inclusive)."""
    return add_months(start, duration_months) - timedelta(days=1)


def missing_reviews(required: dict[str, int], submitted: dict[str, int]) -> dict[str, int]:
    """How many reviews of each kind are still needed before a decision."""
    return {k: n - submitted.get(k, 0) for k, n in required.items() if submitted.get(k, 0) < n}


def weighted_score(scores: dict[str, int], weights: dict[str, float]) -> float:
    total = sum(weights[c] for c in scores)
    return round(sum(scores[c] * weights[c] for c in scores) / total, 3)
