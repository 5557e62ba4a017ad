"""The programme's public figures from plain records (DESIGN §2.6). Pure: no I/O.

The service loads the records (aggregated in SQL where the tables are large) and these
functions turn them into the figures: time from application to first running job per access
mode, GPU-hours requested / allocated / used by organisation type, country, sector and factory,
utilisation and queue waits per factory, the share of allocated GPU-hours going to start-ups
and SMEs, and the models whose training compute passed the AI Act thresholds.

Percentiles: linear interpolation between the closest ranks, `statistics.quantiles(...,
method="inclusive")` — numpy's default, type 7 of Hyndman & Fan (1996). The median is the
50th percentile of the same method.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fabriek.access.enums import ApplicantCategory, ProposalState
from fabriek.access.policy import (
    Classification,
    OrganisationFacts,
    classify_organisation,
    years_between,
)
from fabriek.access.policy_files import ClassificationPolicy
from fabriek.compliance import ledger_policy

PERCENTILE_METHOD = ("linear interpolation between closest ranks (Python statistics.quantiles, "
                     "method 'inclusive'; numpy's default, Hyndman & Fan type 7)")
CONFIDENTIAL = "confidential"
NOT_ALLOCATED = "not-allocated"
OTHER_SECTOR = "other"
SECONDS_PER_HOUR = 3600.0

# --- percentiles -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    median: float | None
    p90: float | None


def summarise(values: Iterable[float]) -> Summary:
    """Count, median and 90th percentile; None for both when there is nothing to summarise."""
    data = sorted(values)
    if not data:
        return Summary(0, None, None)
    if len(data) == 1:  # statistics.quantiles needs two points before Python 3.13
        return Summary(1, data[0], data[0])
    p90 = statistics.quantiles(data, n=10, method="inclusive")[8]
    # Interpolating between two equal neighbours can land one ulp outside them.
    return Summary(len(data), statistics.median(data), min(max(p90, data[0]), data[-1]))


# --- records the service loads ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    """A proposal that was submitted (drafts never count)."""

    id: int
    organisation_id: int
    mode: str
    sector: str  # as the applicant wrote it; resolved to a sector id by `sector_of`
    state: ProposalState
    submitted_at: datetime
    gpu_hours: float  # requested
    confidential: bool = False
    # The earliest start of a job on any of its allocations (see service.first_start_sql).
    first_job_started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AllocationRecord:
    id: int
    proposal_id: int
    factory: str  # the home site: where the grant's GPU-hours are held
    gpu_hours: float


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """GPU-hours used by a proposal's jobs at one factory (where they ran)."""

    proposal_id: int
    factory: str
    gpu_hours: float


@dataclass(frozen=True, slots=True)
class FactoryCapacity:
    factory: str
    gpus: int


@dataclass(frozen=True, slots=True)
class JobWait:
    factory: str
    hours: float  # first start minus the moment the scheduler had the job


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A model's training compute on the platform (compliance ledger figures)."""

    organisation_id: int
    organisation: str
    model: str
    flop: float
    basis: str
    confidential: bool  # some of its jobs ran on a confidential proposal's allocation


@dataclass(frozen=True, slots=True)
class Window:
    starts_at: datetime
    ends_at: datetime

    @property
    def hours(self) -> float:
        return max((self.ends_at - self.starts_at).total_seconds() / SECONDS_PER_HOUR, 0.0)


# --- organisation types ------------------------------------------------------------------------


class OrganisationType(StrEnum):
    startup = "start-up"
    sme = "sme"  # an SME that is not a start-up
    large = "large"
    research = "research"
    public = "public"
    eu_project = "eu-project"


ORGANISATION_TYPE_LABELS = {
    OrganisationType.startup: "Start-ups",
    OrganisationType.sme: "SMEs (not start-ups)",
    OrganisationType.large: "Large enterprises",
    OrganisationType.research: "Research organisations",
    OrganisationType.public: "Public authorities",
    OrganisationType.eu_project: "EU-funded projects",
}

_BY_CATEGORY = {
    ApplicantCategory.large_enterprise: OrganisationType.large,
    ApplicantCategory.research: OrganisationType.research,
    ApplicantCategory.public_authority: OrganisationType.public,
    ApplicantCategory.eu_project: OrganisationType.eu_project,
}


def organisation_type(c: Classification) -> OrganisationType:
    """One type per organisation: a start-up is an SME too, but is counted once, as start-up."""
    if c.is_startup:
        return OrganisationType.startup
    if c.is_sme:
        return OrganisationType.sme
    return next((_BY_CATEGORY[cat] for cat in ApplicantCategory
                 if cat in c.categories and cat in _BY_CATEGORY), OrganisationType.large)


@dataclass(frozen=True, slots=True)
class ProposalKeys:
    """What a proposal's GPU-hours are grouped by (besides the factory)."""

    organisation_type: OrganisationType
    country: str
    sector: str


def proposal_keys(proposals: Iterable[ProposalRecord],
                  organisations: Mapping[int, OrganisationFacts], policy: ClassificationPolicy,
                  sector_of: Callable[[str], str | None]) -> dict[int, ProposalKeys]:
    """Each proposal's organisation type (as classified on the day it was submitted, so a
    start-up that has since grown up still counts as one for what it got then), the
    organisation's country and the sector id (`other` when the vocabulary has none)."""
    types: dict[tuple[int, int], OrganisationType] = {}
    sectors: dict[str, str] = {}
    keys = {}
    for p in proposals:
        facts = organisations[p.organisation_id]
        day = p.submitted_at.date()
        # The day matters to the classification only through the age in whole years (the
        # start-up rule), so one classification per organisation and age, not per day.
        age = years_between(facts.founded_on, day) if facts.founded_on is not None else 0
        kind = types.get((p.organisation_id, age))
        if kind is None:
            kind = organisation_type(classify_organisation(facts, policy, day))
            types[(p.organisation_id, age)] = kind
        if p.sector not in sectors:
            sectors[p.sector] = sector_of(p.sector) or OTHER_SECTOR
        keys[p.id] = ProposalKeys(kind, facts.country, sectors[p.sector])
    return keys


# --- time from application to first running job ----------------------------------------------

# A submitted proposal without a started job still waits unless it can no longer get one.
STILL_WAITING = frozenset({ProposalState.submitted, ProposalState.in_review,
                           ProposalState.appealed, ProposalState.accepted,
                           ProposalState.accepted_reduced})


@dataclass(frozen=True, slots=True)
class ModeTiming:
    mode: str
    hours: Summary  # over proposals with a started job; hours.count of them
    waiting: int  # submitted, not (yet) refused, no job started


def hours_to_first_job(p: ProposalRecord) -> float | None:
    if p.first_job_started_at is None:
        return None
    # Never negative: a job cannot start before its proposal was submitted; the estimate of a
    # pre-empted job's first start errs late, never early (service.first_start_sql).
    seconds = (p.first_job_started_at - p.submitted_at).total_seconds()
    return max(seconds, 0.0) / SECONDS_PER_HOUR


def time_to_first_job(proposals: Iterable[ProposalRecord], modes: Sequence[str] = ()
                      ) -> list[ModeTiming]:
    """Per access mode: hours from submission to the first running job (median, p90) and how
    many proposals still wait. `modes` come first, in their order, even with no proposals."""
    hours: dict[str, list[float]] = {m: [] for m in modes}
    waiting: dict[str, int] = dict.fromkeys(modes, 0)
    for p in proposals:
        h = hours_to_first_job(p)
        hours.setdefault(p.mode, [])
        waiting.setdefault(p.mode, 0)
        if h is not None:
            hours[p.mode].append(h)
        elif p.state in STILL_WAITING:
            waiting[p.mode] += 1
    order = [*modes, *sorted(m for m in hours if m not in modes)]
    return [ModeTiming(m, summarise(hours[m]), waiting[m]) for m in order]


# --- GPU-hours requested, allocated and used ---------------------------------------------------


class Dimension(StrEnum):
    organisation_type = "organisation-type"
    country = "country"
    sector = "sector"
    factory = "factory"


@dataclass(slots=True)
class HoursGroup:
    key: str
    requested: float = 0.0
    allocated: float = 0.0
    used: float = 0.0
    proposals: int = 0  # submitted proposals counted in `requested`


def gpu_hours_by(proposals: Sequence[ProposalRecord], allocations: Iterable[AllocationRecord],
                 usage: Iterable[UsageRecord], keys: Mapping[int, ProposalKeys]
                 ) -> dict[Dimension, list[HoursGroup]]:
    """GPU-hours requested (submitted proposals), allocated (their allocations' grants) and
    used (their jobs), by organisation type, country, sector and factory.

    By factory: allocated where the grant is held, used where the jobs ran, requested at the
    factory of the proposal's first allocation (`not-allocated` when it has none). Every
    dimension adds up to the same totals. Organisation types always list all six.
    """
    allocations, usage = list(allocations), list(usage)
    # One dict per dimension, keyed plainly: this loop runs once per record and dimension.
    groups: list[dict[str, HoursGroup]] = [{}, {}, {}, {}]
    for kind in OrganisationType:
        groups[0][kind.value] = HoursGroup(kind.value)

    plain = {pid: (k.organisation_type.value, k.country, k.sector) for pid, k in keys.items()}

    def cells(proposal_id: int, factory: str) -> list[HoursGroup]:
        out = []
        for table, key in zip(groups, (*plain[proposal_id], factory), strict=True):
            group = table.get(key)
            if group is None:
                group = table[key] = HoursGroup(key)
            out.append(group)
        return out

    first_factory: dict[int, tuple[int, str]] = {}
    for a in allocations:
        if a.proposal_id not in first_factory or a.id < first_factory[a.proposal_id][0]:
            first_factory[a.proposal_id] = (a.id, a.factory)
    for p in proposals:
        for g in cells(p.id, first_factory.get(p.id, (0, NOT_ALLOCATED))[1]):
            g.requested += p.gpu_hours
            g.proposals += 1
    for a in allocations:
        for g in cells(a.proposal_id, a.factory):
            g.allocated += a.gpu_hours
    for u in usage:
        for g in cells(u.proposal_id, u.factory):
            g.used += u.gpu_hours
    return {d: _ordered(d, table.values()) for d, table in zip(Dimension, groups, strict=True)}


def _ordered(dimension: Dimension, groups: Iterable[HoursGroup]) -> list[HoursGroup]:
    if dimension is Dimension.organisation_type:
        rank = {t.value: i for i, t in enumerate(OrganisationType)}
        return sorted(groups, key=lambda g: rank[g.key])
    # Largest first, as the charts show them; what was never allocated goes last.
    return sorted(groups, key=lambda g: (g.key == NOT_ALLOCATED, -g.allocated, -g.requested,
                                         -g.used, g.key))


def totals(groups: Iterable[HoursGroup]) -> HoursGroup:
    total = HoursGroup("total")
    for g in groups:
        total.requested += g.requested
        total.allocated += g.allocated
        total.used += g.used
        total.proposals += g.proposals
    return total


# --- the share going to start-ups and SMEs -------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartupShare:
    allocated: float
    startups: float
    smes: float  # SMEs that are not start-ups
    share_startups: float | None  # of all allocated GPU-hours; None when nothing is allocated
    share_startups_and_smes: float | None


def startup_share(by_type: Iterable[HoursGroup]) -> StartupShare:
    allocated = {g.key: g.allocated for g in by_type}
    total = sum(allocated.values())
    startups = allocated.get(OrganisationType.startup.value, 0.0)
    smes = allocated.get(OrganisationType.sme.value, 0.0)
    if total <= 0:
        return StartupShare(0.0, startups, smes, None, None)
    return StartupShare(total, startups, smes, startups / total, (startups + smes) / total)


# --- utilisation and queue waits per factory ------------------------------------------------


@dataclass(frozen=True, slots=True)
class FactoryLoad:
    factory: str
    gpus: int
    capacity_gpu_hours: float  # GPUs × hours of the window
    used_gpu_hours: float  # jobs' GPU-hours inside the window
    utilisation: float | None  # used / capacity; None without capacity
    waits: Summary  # hours from queued to first start, jobs that started in the window


def factory_loads(capacity: Iterable[FactoryCapacity], used: Mapping[str, float],
                  waits: Iterable[JobWait], window: Window) -> list[FactoryLoad]:
    """Per factory connected to this installation (or with jobs in the window): utilisation
    over the window and queue waits. Maintenance is not subtracted from the capacity: GPUs
    in maintenance show as unused."""
    gpus: dict[str, int] = defaultdict(int)
    for c in capacity:
        gpus[c.factory] += c.gpus
    wait_hours: dict[str, list[float]] = defaultdict(list)
    for w in waits:
        wait_hours[w.factory].append(max(w.hours, 0.0))
    loads = []
    for factory in sorted(set(gpus) | set(used) | set(wait_hours)):
        cap = gpus.get(factory, 0) * window.hours
        use = used.get(factory, 0.0)
        loads.append(FactoryLoad(factory, gpus.get(factory, 0), cap, use,
                                 use / cap if cap > 0 else None,
                                 summarise(wait_hours.get(factory, ()))))
    return loads


# --- models past the AI Act thresholds ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelPast:
    model: str  # CONFIDENTIAL for a confidential one
    organisation: str  # CONFIDENTIAL for a confidential one
    flop: float
    basis: str
    threshold_exponent: int  # the highest threshold reached: 23 or 25


@dataclass(frozen=True, slots=True)
class ModelsPast:
    counts: dict[int, int]  # threshold exponent -> models at or over it
    models: list[ModelPast]


def models_past_thresholds(models: Iterable[ModelRecord]) -> ModelsPast:
    """Models at or over 10^23 and 10^25 FLOP (compliance.ledger_policy), most compute first.
    A model that trained on a confidential proposal's allocation is listed without its name
    or its organisation's."""
    counts = {t.exponent: 0 for t in ledger_policy.THRESHOLDS}
    past = []
    for m in models:
        reached = ledger_policy.reached(m.flop)
        if not reached:
            continue
        for t in reached:
            counts[t.exponent] += 1
        past.append(ModelPast(CONFIDENTIAL if m.confidential else m.model,
                              CONFIDENTIAL if m.confidential else m.organisation,
                              m.flop, m.basis, max(t.exponent for t in reached)))
    past.sort(key=lambda p: (-p.flop, p.model == CONFIDENTIAL, p.model, p.organisation))
    return ModelsPast(counts, past)
