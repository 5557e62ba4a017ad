"""The observatory's figures from the database (DESIGN §2.6): public, read-only.

The jobs are aggregated in SQL, in one pass grouped by allocation and factory (first start,
GPU-hours, GPU-hours inside the window), so Python sees one row per proposal, allocation, or
allocation and factory, never one per job; only the window's queue waits come back one per
job, for their percentiles. Times are compared as epoch seconds (`epoch`, compiled per
dialect) so the same queries run on SQLite and PostgreSQL. No figure names a confidential
proposal; only aggregates and, for models past the AI Act thresholds, names of
non-confidential ones leave here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pycountry
from sqlalchemy import Float, and_, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from fabriek.access.enums import AllocationState
from fabriek.access.models import Allocation, Proposal
from fabriek.access.policy import OrganisationFacts
from fabriek.access.service import AccessConfig
from fabriek.compliance import ledger as act_ledger
from fabriek.compliance import ledger_policy
from fabriek.compliance.ledger_gpus import PeakFlops, peak_flops_now
from fabriek.compute.models import Job
from fabriek.db.base import unindexed
from fabriek.federation.domain import ExecutorKind
from fabriek.federation.models import Factory, Partition
from fabriek.identity.models import Organisation
from fabriek.kit.clock import utcnow
from fabriek.observatory import metrics as m
from fabriek.observatory.schemas import (
    AiActModels,
    FactoryLoadRead,
    FactoryLoads,
    GpuHours,
    HoursGroupRead,
    ModelPastRead,
    ModeTimingRead,
    ObservatoryRead,
    StartupShareRead,
    ThresholdRead,
    TimeToFirstJob,
    WindowRead,
)

DEFAULT_DAYS = 30
# The windows anyone may ask for: each is computed and cached on its own, so a public endpoint
# must not let anyone ask for hundreds of them.
WINDOWS = (7, 30, 90, 365)

# --- times as epoch seconds, on both databases -------------------------------------------------


class epoch(FunctionElement[float]):  # lower case: an SQL function, used like func.x
    """Seconds since 1970-01-01 UTC of a timestamp column (SQLite keeps naive UTC text).

    Also how timestamps are read here in bulk: a float is much cheaper to turn into a datetime
    than the text SQLite returns is to parse.
    """

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS FLOAT)"


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else _at(seconds)


def _prior_seconds() -> ColumnElement[float]:
    """Wall time of a job's earlier runs (GPU-hours of them ÷ GPUs); 0 for a 0-GPU job."""
    return case((Job.gpus > 0, 3600.0 * Job.gpu_hours_prior / Job.gpus), else_=0.0)


def first_start_sql() -> ColumnElement[float]:
    """A job's first start, in epoch seconds.

    A pre-empted job's `started_at` is cleared (and set again when it restarts), so its first
    start is not stored; its earlier runs took `gpu_hours_prior / gpus` hours, all before the
    current start (or the last pre-emption), so subtracting them gives the latest moment the
    first run can have begun. The estimate errs late: waits are never flattered. Exact for
    a job never pre-empted.
    """
    return epoch(func.coalesce(Job.started_at, Job.last_preempted_at)) - _prior_seconds()


def _overlap(start: ColumnElement[float], end: ColumnElement[float], w0: float, w1: float
             ) -> ColumnElement[float]:
    """Seconds of [start, end] inside [w0, w1]; CASE, not GREATEST/LEAST, for SQLite."""
    lo = case((start > w0, start), else_=w0)
    hi = case((end < w1, end), else_=w1)
    return case((hi > lo, hi - lo), else_=0.0)


# --- loading the records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobGroup:
    """The jobs of one allocation at one factory, summed in SQL."""

    allocation_id: int
    factory: str
    first_started_at: datetime | None
    gpu_hours: float  # all their runs
    gpu_hours_in_window: float


def _first(plain: float | None, estimated: float | None) -> datetime | None:
    if plain is None or (estimated is not None and estimated < plain):
        return _moment(estimated)
    return _at(plain)


def load_job_groups(session: Session, window: m.Window) -> list[JobGroup]:
    """One pass over the jobs, grouped by allocation and factory: the first start, GPU-hours
    used, and GPU-hours inside the window.

    Inside the window: the current run up to its end (now, while running), and the earlier
    runs of a pre-empted job as one block ending at its last pre-emption (their times are not
    kept). Cheap comparisons on the stored timestamps pick the rows that can overlap; only
    those are converted to epoch seconds.
    """
    w0, w1 = _seconds(window.starts_at), _seconds(window.ends_at)
    run_end = case((Job.ended_at.is_(None), w1), else_=epoch(Job.ended_at))
    current = case(
        (and_(Job.started_at.is_not(None), Job.started_at < window.ends_at,
              or_(Job.ended_at.is_(None), Job.ended_at > window.starts_at)),
         Job.gpus * _overlap(epoch(Job.started_at), run_end, w0, w1)), else_=0.0)
    preempted = epoch(Job.last_preempted_at)
    earlier = case(
        (and_(Job.last_preempted_at.is_not(None), Job.last_preempted_at > window.starts_at),
         Job.gpus * _overlap(preempted - _prior_seconds(), preempted, w0, w1)), else_=0.0)
    allocation = unindexed(Job.allocation_id)
    rows = session.execute(
        select(allocation, Job.factory,
               epoch(func.min(Job.started_at).filter(Job.last_preempted_at.is_(None))),
               func.min(first_start_sql()).filter(Job.last_preempted_at.is_not(None)),
               func.sum(Job.gpu_hours_used), func.sum(current + earlier) / 3600.0)
        .group_by(allocation, Job.factory))
    return [JobGroup(a, f, _first(plain, estimated), float(used or 0.0), float(inside or 0.0))
            for a, f, plain, estimated, used, inside in rows]


@dataclass(frozen=True)
class Records:
    """What the figures are computed from; Python sees one row per proposal, allocation, or
    allocation and factory, never one per job."""

    proposals: list[m.ProposalRecord]
    allocations: list[m.AllocationRecord]  # revoked ones left out
    usage: list[m.UsageRecord]
    used_in_window: dict[str, float]


def load_records(session: Session, window: m.Window) -> Records:
    allocations = session.execute(select(Allocation.id, Allocation.proposal_id,
                                         Allocation.factory, Allocation.gpu_hours,
                                         Allocation.state)).all()
    proposal_of = {a: p for a, p, *_ in allocations}
    first: dict[int, datetime] = {}
    usage, inside = [], defaultdict(float)
    for g in load_job_groups(session, window):
        proposal_id = proposal_of[g.allocation_id]
        if g.first_started_at is not None and (
                proposal_id not in first or g.first_started_at < first[proposal_id]):
            first[proposal_id] = g.first_started_at
        usage.append(m.UsageRecord(proposal_id, g.factory, g.gpu_hours))
        inside[g.factory] += g.gpu_hours_in_window
    rows = session.execute(
        select(Proposal.id, Proposal.organisation_id, Proposal.mode, Proposal.sector,
               Proposal.state, epoch(Proposal.submitted_at), Proposal.gpu_hours,
               Proposal.confidential)
        .where(Proposal.submitted_at.is_not(None)).order_by(Proposal.id))
    proposals = [m.ProposalRecord(pid, org, mode, sector, state, _at(submitted), float(hours),
                                  bool(confidential), first.get(pid))
                 for pid, org, mode, sector, state, submitted, hours, confidential in rows]
    return Records(
        proposals=proposals,
        allocations=[m.AllocationRecord(a, p, f, float(h)) for a, p, f, h, state in allocations
                     if state is not AllocationState.revoked],
        usage=usage, used_in_window=dict(inside))


def load_organisations(session: Session) -> dict[int, OrganisationFacts]:
    rows = session.execute(select(
        Organisation.id, Organisation.kind, Organisation.country, Organisation.founded_on,
        Organisation.headcount, Organisation.turnover_eur, Organisation.balance_sheet_eur,
        Organisation.public_control))
    return {i: OrganisationFacts(kind, country, founded, heads, turnover, balance, bool(public))
            for i, kind, country, founded, heads, turnover, balance, public in rows}


def load_capacity(session: Session) -> list[m.FactoryCapacity]:
    """GPUs of the partitions connected to this installation (the others have no jobs here)."""
    rows = session.execute(
        select(Partition.factory_id, func.sum(Partition.gpus_per_node * Partition.nodes))
        .where(Partition.executor != ExecutorKind.none).group_by(Partition.factory_id))
    return [m.FactoryCapacity(f, int(g or 0)) for f, g in rows]


def load_waits(session: Session, window: m.Window) -> list[m.JobWait]:
    """Queue waits of the jobs whose first start fell inside the window (one number each).

    A first start is never later than the stored start or last pre-emption, so comparing that
    (cheap) leaves out every job that started before the window.
    """
    rows = session.execute(
        select(Job.factory, first_start_sql(), epoch(Job.queued_at))
        .where(Job.queued_at.is_not(None),
               func.coalesce(Job.started_at, Job.last_preempted_at) >= window.starts_at))
    w0, w1 = _seconds(window.starts_at), _seconds(window.ends_at)
    return [m.JobWait(f, (start - queued) / 3600.0) for f, start, queued in rows
            if w0 <= start < w1]


def _peaks_when_needed(session: Session) -> PeakFlops:
    """The GPUs' peaks, read only if some model has jobs (it loads the federation)."""
    table: list[PeakFlops] = []

    def peak(factory: str, partition: str) -> float | None:
        if not table:
            table.append(peak_flops_now(session))
        return table[0](factory, partition)

    return peak


def load_models(session: Session) -> list[m.ModelRecord]:
    """Every model's compute from the compliance ledger, with whether it is confidential."""
    figures = act_ledger.all_figures(session, _peaks_when_needed(session))
    if not figures:
        return []
    # Through the jobs' allocation index: only the confidential proposals' jobs are read.
    secret = (select(Allocation.id).join(Proposal, Proposal.id == Allocation.proposal_id)
              .where(Proposal.confidential.is_(True)))
    confidential = {(org, model) for org, model in session.execute(
        select(Job.organisation_id, Job.model).distinct()
        .where(Job.model.is_not(None), Job.allocation_id.in_(secret)))}
    names = dict(session.execute(select(Organisation.id, Organisation.legal_name).where(
        Organisation.id.in_({org for org, _ in figures}))).all())
    return [m.ModelRecord(org, names.get(org, ""), model, f.flop, f.basis.value,
                          (org, model) in confidential)
            for (org, model), f in figures.items()]


# --- labels --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    modes: dict[str, str]
    sectors: dict[str, str]
    countries: dict[str, str]
    factories: dict[str, str]

    def of(self, dimension: m.Dimension, key: str) -> str:
        if dimension is m.Dimension.organisation_type:
            return m.ORGANISATION_TYPE_LABELS[m.OrganisationType(key)]
        if dimension is m.Dimension.country:
            return self.countries.get(key) or _country_name(key)
        if dimension is m.Dimension.sector:
            return self.sectors.get(key, key)
        return self.factories.get(key, key)


def _country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country is not None else code


def labels(session: Session, config: AccessConfig) -> Labels:
    countries = {c.code: c.name for g in config.policy.eligibility.groups for c in g.countries}
    sectors = {s.id: s.label for s in config.federation.catalogue.sectors.sectors}
    factories = dict(session.execute(select(Factory.id, Factory.name)).all())
    return Labels(modes={mode.id: mode.label for mode in config.policy.modes.modes},
                  sectors={**sectors, m.OTHER_SECTOR: "Other or unspecified"},
                  countries=countries,
                  factories={**factories, m.NOT_ALLOCATED: "Not allocated"})


# --- the figures ----------------------------------------------------------------------------------


def _h(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def window_ending(now: datetime | None, days: int) -> m.Window:
    end = now or utcnow()
    return m.Window(end - timedelta(days=days), end)


def _time_to_first_job(proposals: Sequence[m.ProposalRecord], names: Labels) -> TimeToFirstJob:
    return TimeToFirstJob(modes=[
        ModeTimingRead(mode=t.mode, label=names.modes.get(t.mode, t.mode), started=t.hours.count,
                       waiting=t.waiting, median_hours=_h(t.hours.median),
                       p90_hours=_h(t.hours.p90))
        for t in m.time_to_first_job(proposals, list(names.modes))])


def _group(g: m.HoursGroup, label: str) -> HoursGroupRead:
    return HoursGroupRead(key=g.key, label=label, proposals=g.proposals,
                          requested_gpu_hours=round(g.requested, 3),
                          allocated_gpu_hours=round(g.allocated, 3),
                          used_gpu_hours=round(g.used, 3))


def _hours_groups(session: Session, config: AccessConfig, records: Records
                  ) -> dict[m.Dimension, list[m.HoursGroup]]:
    keys = m.proposal_keys(records.proposals, load_organisations(session),
                           config.policy.classification, config.federation.sector_id)
    return m.gpu_hours_by(records.proposals, records.allocations, records.usage, keys)


def _gpu_hours(groups: dict[m.Dimension, list[m.HoursGroup]], names: Labels) -> GpuHours:
    def read(d: m.Dimension) -> list[HoursGroupRead]:
        return [_group(g, names.of(d, g.key)) for g in groups[d]]

    return GpuHours(total=_group(m.totals(groups[m.Dimension.organisation_type]), "Total"),
                    by_organisation_type=read(m.Dimension.organisation_type),
                    by_country=read(m.Dimension.country), by_sector=read(m.Dimension.sector),
                    by_factory=read(m.Dimension.factory))


def _startup_share(by_type: Sequence[m.HoursGroup]) -> StartupShareRead:
    s = m.startup_share(by_type)
    return StartupShareRead(
        allocated_gpu_hours=round(s.allocated, 3), startups_gpu_hours=round(s.startups, 3),
        smes_gpu_hours=round(s.smes, 3), share_startups=_share(s.share_startups),
        share_startups_and_smes=_share(s.share_startups_and_smes))


def factory_loads(session: Session, *, days: int = DEFAULT_DAYS, now: datetime | None = None,
                  names: Labels | None = None, records: Records | None = None) -> FactoryLoads:
    """Utilisation and queue waits per factory over the `days` before `now` (`records` must
    have been loaded for that window)."""
    window = window_ending(now, days)
    records = records or load_records(session, window)
    factories = names.factories if names is not None else dict(
        session.execute(select(Factory.id, Factory.name)).all())
    loads = m.factory_loads(load_capacity(session), records.used_in_window,
                            load_waits(session, window), window)
    return FactoryLoads(
        window=WindowRead(starts_at=window.starts_at, ends_at=window.ends_at, days=days),
        factories=[FactoryLoadRead(
            factory=f.factory, name=factories.get(f.factory, f.factory), gpus=f.gpus,
            capacity_gpu_hours=round(f.capacity_gpu_hours, 3),
            used_gpu_hours=round(f.used_gpu_hours, 3), utilisation=_share(f.utilisation),
            jobs_started=f.waits.count, wait_median_hours=_h(f.waits.median),
            wait_p90_hours=_h(f.waits.p90)) for f in loads])


def ai_act_models(session: Session) -> AiActModels:
    past = m.models_past_thresholds(load_models(session))
    return AiActModels(
        thresholds=[ThresholdRead(exponent=t.exponent, flop=t.flop, meaning=t.meaning,
                                  models=past.counts[t.exponent])
                    for t in ledger_policy.THRESHOLDS],
        models=[ModelPastRead(model=p.model, organisation=p.organisation, flop=p.flop,
                              basis=p.basis, threshold=f"1e{p.threshold_exponent}")
                for p in past.models])


def _records(session: Session) -> Records:
    return load_records(session, window_ending(None, DEFAULT_DAYS))


def time_to_first_job(session: Session, config: AccessConfig) -> TimeToFirstJob:
    return _time_to_first_job(_records(session).proposals, labels(session, config))


def gpu_hours(session: Session, config: AccessConfig) -> GpuHours:
    groups = _hours_groups(session, config, _records(session))
    return _gpu_hours(groups, labels(session, config))


def startup_share(session: Session, config: AccessConfig) -> StartupShareRead:
    groups = _hours_groups(session, config, _records(session))
    return _startup_share(groups[m.Dimension.organisation_type])


def observatory(session: Session, config: AccessConfig, *, days: int = DEFAULT_DAYS,
                now: datetime | None = None) -> ObservatoryRead:
    """Every figure. The jobs are read by three aggregates (grouped by allocation, the
    window's waits, the models) and one narrow lookup (the confidential proposals' models)."""
    now = now or utcnow()
    names = labels(session, config)
    records = load_records(session, window_ending(now, days))
    groups = _hours_groups(session, config, records)
    return ObservatoryRead(
        generated_at=now,
        time_to_first_job=_time_to_first_job(records.proposals, names),
        gpu_hours=_gpu_hours(groups, names),
        factories=factory_loads(session, days=days, now=now, names=names, records=records),
        startup_share=_startup_share(groups[m.Dimension.organisation_type]),
        ai_act_models=ai_act_models(session))



def cached_figures(state: Any, days: int = DEFAULT_DAYS) -> ObservatoryRead:
    """Every figure for the window, from the application's cache (`state.observatory`); the
    API and the portal's dashboard read the same computation."""

    def compute() -> ObservatoryRead:
        # A session of its own: this may run in a background refresh, after the request.
        with state.db.unit_of_work(readonly=True) as session:
            return observatory(session, state.access, days=days)

    figures: ObservatoryRead = state.observatory.get(days, compute)
    return figures
