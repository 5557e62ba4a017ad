"""The compute ledger: per organisation and model, the training compute used on the platform.

Reads the jobs tagged with the model (fabriek.compute Job.model); the arithmetic is in
ledger_policy. A threshold crossing is recorded once (act_ledger_warnings) and audited; a job
whose worst case would carry its model over a threshold is warned about when it is submitted.
The GPU's peak comes from an injected `peak_flops(factory, partition)` (see ledger_gpus).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fabriek.audit.service import record
from fabriek.compliance import ledger_policy as pol
from fabriek.compliance.ledger_gpus import PeakFlops
from fabriek.compliance.models import LedgerWarning, ModelLedger
from fabriek.compliance.schemas import (
    LedgerBasisIn,
    LedgerRead,
    LedgerWarningRead,
    ThresholdStatus,
)
from fabriek.compute.enums import JobState
from fabriek.compute.models import Job
from fabriek.db.base import unindexed
from fabriek.errors import NotFound, ValidationFailed
from fabriek.identity.enums import Role
from fabriek.identity.models import Organisation
from fabriek.identity.principal import SYSTEM, Principal
from fabriek.kit.clock import utcnow


def _organisation(session: Session, principal: Principal, organisation_id: int | None,
                  *, write: bool = False) -> int:
    """The organisation whose ledger is meant: given, or the principal's only one."""
    if organisation_id is None:
        ids = sorted(principal.organisation_ids)
        if len(ids) != 1:
            raise ValidationFailed("name the organisation (organisation_id): you belong to "
                                   f"{len(ids)} organisations")
        return ids[0]
    readable = principal.is_member(organisation_id) or (
        not write and principal.has(Role.access_officer))
    if not readable or session.get(Organisation, organisation_id) is None:
        raise NotFound(f"organisation {organisation_id} not found")
    return organisation_id


def _settings(session: Session, organisation_id: int, model: str) -> ModelLedger | None:
    return session.execute(select(ModelLedger).where(
        ModelLedger.organisation_id == organisation_id, ModelLedger.model == model)
    ).scalar_one_or_none()


def _figures(session: Session, organisation_id: int, model: str, peak_flops: PeakFlops
             ) -> tuple[pol.LedgerFigures, int, ModelLedger | None]:
    rows = session.execute(select(Job.factory, Job.partition, func.sum(Job.gpu_hours_used),
                                  func.count()).where(
        Job.organisation_id == organisation_id, Job.model == model)
        .group_by(Job.factory, Job.partition)).all()
    settings = _settings(session, organisation_id, model)
    figures = _figures_of([(f, p, h) for f, p, h, _ in rows], settings, peak_flops)
    return figures, sum(n for *_, n in rows), settings


def _figures_of(rows: Iterable[tuple[str, str, float | None]], settings: ModelLedger | None,
                peak_flops: PeakFlops) -> pol.LedgerFigures:
    """A model's figures from its GPU-hours per (factory, partition) and its owner's basis."""
    jobs = [pol.JobCompute(float(hours or 0.0), peak_flops(factory, partition))
            for factory, partition, hours in rows]
    return pol.ledger(
        jobs, basis=pol.Basis(settings.basis) if settings else pol.Basis.estimate,
        utilisation=settings.utilisation if settings else None,
        reported_flop=settings.reported_flop if settings else None)


def all_figures(session: Session, peak_flops: PeakFlops
                ) -> dict[tuple[int, str], pol.LedgerFigures]:
    """Every model's figures, by (organisation, model), in two queries however many models
    there are (the observatory's count of models past the thresholds). A read: nothing is
    recorded."""
    rows: dict[tuple[int, str], list[tuple[str, str, float | None]]] = {}
    organisation = unindexed(Job.organisation_id)
    for org_id, model, factory, partition, hours in session.execute(select(
            organisation, Job.model, Job.factory, Job.partition,
            func.sum(Job.gpu_hours_used)).where(Job.model.is_not(None)).group_by(
            organisation, Job.model, Job.factory, Job.partition)):
        rows.setdefault((org_id, model), []).append((factory, partition, hours))
    settings = {(s.organisation_id, s.model): s
                for s in session.execute(select(ModelLedger)).scalars()}
    return {key: _figures_of(rows.get(key, ()), settings.get(key), peak_flops)
            for key in sorted(rows.keys() | settings.keys())}


def _record_crossings(session: Session, organisation_id: int, model: str,
                      figures: pol.LedgerFigures) -> list[LedgerWarning]:
    """Record (once each) and audit the thresholds the model has reached."""
    sent = set(session.execute(select(LedgerWarning.threshold_exponent).where(
        LedgerWarning.organisation_id == organisation_id, LedgerWarning.model == model)
    ).scalars())
    made = []
    for t in pol.reached(figures.flop):
        if t.exponent in sent:
            continue
        message = pol.crossing_message(model, t, figures.flop, figures.basis)
        warning = LedgerWarning(organisation_id=organisation_id, model=model,
                                threshold_exponent=t.exponent, flop=figures.flop,
                                basis=figures.basis.value, message=message,
                                created_at=utcnow())
        session.add(warning)
        record(session, SYSTEM, "act.ledger-threshold-crossed", subject_type="organisation",
               subject_id=organisation_id, organisation_id=organisation_id, reason=message,
               data={"model": model, "threshold": f"1e{t.exponent}", "flop": figures.flop,
                     "basis": figures.basis.value, "rule": t.rule})
        made.append(warning)
    if made:
        session.flush()
    return made


def refresh(session: Session, organisation_id: int, models: Iterable[str],
            peak_flops: PeakFlops) -> list[LedgerWarning]:
    """Record the crossings of these models' ledgers (the reconciler calls it after it
    accounts jobs' GPU-hours; reading a ledger calls it too)."""
    made: list[LedgerWarning] = []
    for model in sorted(set(models)):
        figures, _, _ = _figures(session, organisation_id, model, peak_flops)
        made += _record_crossings(session, organisation_id, model, figures)
    return made


def refresh_allocations(session: Session, allocation_ids: Iterable[int],
                        peak_flops: PeakFlops) -> list[LedgerWarning]:
    """Record the crossings of every model that ran on these allocations (reconciler)."""
    pairs = session.execute(select(Job.organisation_id, Job.model).where(
        Job.allocation_id.in_(list(allocation_ids)), Job.model.is_not(None)).distinct()).all()
    made: list[LedgerWarning] = []
    for organisation_id, model in sorted(pairs):
        made += refresh(session, organisation_id, [model], peak_flops)
    return made


def _worst_case_flop(gpus: int, time_limit_minutes: int, peak: float | None,
                     utilisation: float) -> float:
    return 0.0 if peak is None else pol.job_flop(gpus * time_limit_minutes / 60.0, peak,
                                                 utilisation)


def _committed(session: Session, organisation_id: int, model: str, peak_flops: PeakFlops,
               utilisation: float) -> float:
    """What the model's queued and running jobs may still add, run to their time limits."""
    active = session.execute(select(Job.gpus, Job.time_limit_minutes, Job.factory,
                                    Job.partition, Job.gpu_hours_used).where(
        Job.organisation_id == organisation_id, Job.model == model,
        Job.state.in_(JobState.active_states()))).all()
    total = 0.0
    for gpus, minutes, factory, partition, used in active:
        peak = peak_flops(factory, partition)
        if peak is not None:
            left = max(gpus * minutes / 60.0 - used, 0.0)
            total += pol.job_flop(left, peak, utilisation)
    return total


def projected_warnings(session: Session, *, organisation_id: int, model: str | None,
                       gpus: int, time_limit_minutes: int, factory: str, partition: str,
                       peak_flops: PeakFlops) -> list[str]:
    """Warnings for a job about to be admitted whose worst case would carry its model over a
    threshold (counting the worst case of the model's other active jobs too). Never refuses."""
    if not model:
        return []
    figures, _, settings = _figures(session, organisation_id, model, peak_flops)
    _record_crossings(session, organisation_id, model, figures)
    util = pol.effective_utilisation(figures.basis, settings.utilisation if settings else None)
    current = figures.flop + _committed(session, organisation_id, model, peak_flops, util)
    worst = _worst_case_flop(gpus, time_limit_minutes, peak_flops(factory, partition), util)
    return [pol.projection_message(model, t, current, worst)
            for t in pol.projected(current, worst)]


def get_ledger(session: Session, principal: Principal, model: str, *,
               organisation_id: int | None, peak_flops: PeakFlops) -> LedgerRead:
    """The model's ledger for its organisation (a read: crossings are recorded by the
    reconciler, at job submission and when the basis changes). Raises: NotFound,
    ValidationFailed."""
    org_id = _organisation(session, principal, organisation_id)
    figures, jobs, settings = _figures(session, org_id, model, peak_flops)
    if jobs == 0 and settings is None:
        raise NotFound(f"no jobs of model {model!r} in organisation {org_id}")
    util = pol.effective_utilisation(figures.basis, settings.utilisation if settings else None)
    committed = _committed(session, org_id, model, peak_flops, util)
    warnings = session.execute(select(LedgerWarning).where(
        LedgerWarning.organisation_id == org_id, LedgerWarning.model == model)
        .order_by(LedgerWarning.threshold_exponent)).scalars()
    return LedgerRead(
        organisation_id=org_id, model=model, basis=figures.basis,
        utilisation=figures.utilisation,
        reported_flop=settings.reported_flop if settings else None, flop=figures.flop,
        gpu_hours=round(figures.gpu_hours, 6),
        gpu_hours_unpriced=round(figures.gpu_hours_unpriced, 6), jobs=jobs,
        worst_case_flop_active=committed,
        thresholds=[ThresholdStatus(exponent=t.exponent, flop=t.flop,
                                    reached=figures.flop >= t.flop, rule=t.rule,
                                    meaning=t.meaning) for t in pol.THRESHOLDS],
        projected=[f"10^{t.exponent}" for t in pol.projected(figures.flop, committed)],
        warnings=[LedgerWarningRead.model_validate(w) for w in warnings])


def set_basis(session: Session, principal: Principal, model: str, data: LedgerBasisIn, *,
              peak_flops: PeakFlops, now: datetime | None = None) -> ModelLedger:
    """The model's owner (a member of its organisation) sets how its compute is counted.

    Raises: NotFound (organisation not the principal's), ValidationFailed.
    """
    org_id = _organisation(session, principal, data.organisation_id, write=True)
    assert principal.user_id is not None
    settings = _settings(session, org_id, model)
    if settings is None:
        settings = ModelLedger(organisation_id=org_id, model=model)
        session.add(settings)
    settings.basis = data.basis.value
    settings.utilisation, settings.reported_flop = data.utilisation, data.reported_flop
    settings.updated_by_id, settings.updated_at = principal.user_id, now or utcnow()
    session.flush()
    figures, _, _ = _figures(session, org_id, model, peak_flops)
    _record_crossings(session, org_id, model, figures)
    record(session, principal, "act.ledger-basis-set", subject_type="organisation",
           subject_id=org_id, organisation_id=org_id,
           data={"model": model, "basis": data.basis.value, "utilisation": data.utilisation,
                 "reported_flop": data.reported_flop})
    return settings
