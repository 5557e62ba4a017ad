"""The access officer's pages: the queue by access mode and cut-off, a proposal with its
reviews and referral, reviewer assignment, decisions (with a referral override), appeals,
releasing cut-offs, and direct strategic and emergency allocations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from fabriek.access import policy as access_policy
from fabriek.access import service as access
from fabriek.access.enums import DecisionOutcome, ProcedureKind, ProposalState, ReviewState
from fabriek.access.policy_files import AccessMode
from fabriek.access.schemas import (
    AppealDecision,
    DecisionIn,
    DirectAllocationCreate,
    ProposalRead,
    ReviewAssign,
)
from fabriek.access.service import AccessConfig
from fabriek.compute import service as compute
from fabriek.errors import BadRequest, FabriekError
from fabriek.federation import service as federation
from fabriek.federation.domain import ExecutorKind
from fabriek.federation.referral_schemas import referral_read
from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow
from fabriek.portal import web
from fabriek.portal.i18n import N_
from fabriek.portal.routes._staff import (
    FormError,
    field_errors,
    optional_date,
    optional_float,
    optional_int,
    require_role,
)
from fabriek.portal.web import Form, User

router = APIRouter(include_in_schema=False)
PAGE = 50
# How many organisations the direct-allocation form offers in a list; beyond, a number field.
ORGANISATION_CHOICES = 1000
# Said above a form that was refused, its reasons next to the fields.
_NOT_DECIDED = N_("the decision is not recorded; see the fields below")
_NOT_ALLOCATED = N_("nothing was allocated; see the fields below")


def _config(request: Request) -> AccessConfig:
    return request.app.state.access


def _officer(principal: Principal) -> None:
    require_role(principal, Role.access_officer)


# --- the queue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeRow:
    mode: AccessMode
    counts: dict[ProposalState, int]
    next_cutoffs: list[datetime]  # the coming cut-offs (cut-off modes only)
    held_for_next: int  # submitted proposals waiting for the next cut-off
    due: int  # held for a cut-off that has passed: an officer may release them


def _coming_cutoffs(mode: AccessMode, now: datetime, n: int = 3) -> list[datetime]:
    if mode.cutoffs is None:
        return []
    moments, after = [], now
    for _ in range(n):
        after = access_policy.next_cutoff(mode.cutoffs, after)
        moments.append(after)
    return moments


def _mode_rows(config: AccessConfig, summary: access.QueueSummary, now: datetime
               ) -> list[ModeRow]:
    rows = []
    for mode in config.policy.modes.modes:
        coming = _coming_cutoffs(mode, now)
        held = summary.held.get(mode.id, {})
        rows.append(ModeRow(
            mode=mode, counts=summary.by_state.get(mode.id, {}), next_cutoffs=coming,
            held_for_next=sum(n for at, n in held.items() if coming and now < at <= coming[0]),
            due=sum(n for at, n in held.items() if at <= now)))
    return rows


def _queue(session: Session, principal: Principal, config: AccessConfig, *,
           mode: str | None, state: ProposalState | None, after: int) -> dict[str, Any]:
    now = utcnow()
    summary = access.queue_summary(session, principal)
    proposals = access.list_proposals(session, principal, state=state, mode=mode, after=after,
                                      limit=PAGE)
    views = [access.proposal_view(session, principal, p, detail=False) for p in proposals]
    return {
        "modes": _mode_rows(config, summary, now), "proposals": views, "now": now,
        "names": identity.organisation_names(session, principal,
                                             {p.organisation_id for p in views}),
        "labels": {m.id: m.label for m in config.policy.modes.modes},
        "next_after": views[-1].id if len(views) == PAGE else None,
    }


def _filters(config: AccessConfig, mode: str, state: str
             ) -> tuple[str | None, ProposalState | None]:
    if mode and config.policy.modes.mode(mode) is None:
        raise BadRequest(f"unknown access mode {mode!r}")
    try:
        return mode or None, ProposalState(state) if state else None
    except ValueError:
        raise BadRequest(f"unknown proposal state {state!r}") from None


def _queue_page(request: Request, principal: Principal, *, mode: str = "", state: str = "",
                after: int = 0, status_code: int = 200, **extra: Any) -> Response:
    config = _config(request)
    chosen_mode, chosen_state = _filters(config, mode, state)
    context = web.in_transaction(request, lambda s: _queue(
        s, principal, config, mode=chosen_mode, state=chosen_state, after=after), readonly=True)
    return web.render(request, "officer/queue.html", status_code=status_code,
                      mode=mode, state=state, states=list(ProposalState), **context, **extra)


@router.get("/officer")
def queue(request: Request, principal: User, mode: str = "", state: str = "",
          after: int = 0) -> Response:
    _officer(principal)
    return _queue_page(request, principal, mode=mode, state=state, after=after)


@router.post("/officer/cutoffs/release")
def release_cutoff(request: Request, principal: User, form: Form) -> Response:
    _officer(principal)
    mode = web.field(form, "mode")
    try:
        web.in_transaction(request, lambda s: access.release_cutoff(
            s, principal, mode, config=_config(request)))
    except FabriekError as exc:
        return _queue_page(request, principal, status_code=exc.status,
                           release_error=exc.detail)
    return web.redirect(f"/officer?mode={mode}&state=in-review", flash="released")


# --- one proposal ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewNeed:
    kind: str
    required: int
    submitted: int
    assigned: int


def _review_needs(mode: AccessMode, view: ProposalRead) -> list[ReviewNeed]:
    needs = []
    for requirement in mode.procedure.reviews:
        mine = [r for r in view.reviews if r.kind is requirement.kind]
        needs.append(ReviewNeed(
            requirement.kind.value, requirement.count,
            sum(r.state is ReviewState.submitted for r in mine),
            sum(r.state is ReviewState.assigned for r in mine)))
    return needs


def _proposal(session: Session, principal: Principal, proposal_id: int, config: AccessConfig
              ) -> dict[str, Any]:
    proposal = access.get_proposal(session, principal, proposal_id)
    view = access.proposal_view(session, principal, proposal)
    org = identity.get_organisation(session, principal, proposal.organisation_id)
    mode = config.mode(proposal.mode)
    reviewers = identity.people_with_role(session, principal, Role.reviewer)
    referral = referral_read(proposal.id, access.proposal_referral(
        session, principal, proposal.id, config=config), config.federation.referral.version)
    allocations = access.allocation_views(session, [
        access.get_allocation(session, principal, a) for a in view.allocation_ids])
    submitted = [r.weighted_score for r in view.reviews
                 if r.state is ReviewState.submitted and r.weighted_score is not None]
    return {
        "proposal": view, "mode": mode, "applicant": {"name": org.legal_name,
                                                      "country": org.country, "id": org.id},
        "reviewers": reviewers, "emails": {u.id: u.email for u in reviewers},
        "needs": _review_needs(mode, view), "referral": referral, "allocations": allocations,
        "average": sum(submitted) / len(submitted) if submitted else None,
        "own_organisation": principal.is_member(proposal.organisation_id),
    }


def _proposal_page(request: Request, principal: Principal, proposal_id: int,
                   status_code: int = 200, **typed: Any) -> Response:
    context = web.in_transaction(request, lambda s: _proposal(
        s, principal, proposal_id, _config(request)), readonly=True)
    return web.render(request, "officer/proposal.html", status_code=status_code,
                      **{"errors": {}, "typed": {}, **context, **typed})


@router.get("/officer/proposals/{proposal_id}")
def proposal_page(request: Request, proposal_id: int, principal: User) -> Response:
    _officer(principal)
    return _proposal_page(request, principal, proposal_id)


@router.post("/officer/proposals/{proposal_id}/reviewers")
def assign_reviewer(request: Request, proposal_id: int, principal: User, form: Form
                    ) -> Response:
    _officer(principal)
    typed = {"reviewer_id": web.field(form, "reviewer_id"), "kind": web.field(form, "kind")}
    try:
        body = ReviewAssign(reviewer_id=optional_int(typed["reviewer_id"], "reviewer_id"),
                            kind=typed["kind"])
        web.in_transaction(request, lambda s: access.assign_reviewer(
            s, principal, proposal_id, reviewer_id=body.reviewer_id, kind=body.kind,
            config=_config(request)))
    except FormError as exc:
        return _proposal_page(request, principal, proposal_id, 400, typed=typed,
                              errors={exc.name: web.translate(request, exc.message)},
                              assign_error=web.translate(
                                  request, N_("the reviewer could not be assigned")))
    except ValidationError as exc:
        fields, general = field_errors(exc)
        return _proposal_page(request, principal, proposal_id, 400, typed=typed,
                              errors=fields, assign_error="; ".join(general or fields.values()))
    except FabriekError as exc:
        return _proposal_page(request, principal, proposal_id, exc.status, typed=typed,
                              assign_error=exc.detail)
    return web.redirect(f"/officer/proposals/{proposal_id}", flash="reviewer-assigned")


def _decision(typed: dict[str, str]) -> dict[str, Any]:
    """The DecisionIn fields the typed values mean: GPU-hours only when accepting with less,
    a site (and its reason) only when accepting."""
    body: dict[str, Any] = {"outcome": typed["outcome"], "reasons": typed["reasons"]}
    if typed["outcome"] == DecisionOutcome.accept_reduced.value:
        body["gpu_hours_granted"] = optional_int(typed["gpu_hours_granted"], "gpu_hours_granted")
    accepting = typed["outcome"] in (DecisionOutcome.accept.value,
                                     DecisionOutcome.accept_reduced.value)
    if accepting and typed["site"]:
        factory, _, partition = typed["site"].partition("/")
        body["factory"], body["partition"] = factory, partition or None
        body["override_reason"] = typed["override_reason"] or None
    return body


@router.post("/officer/proposals/{proposal_id}/decision")
def decide(request: Request, proposal_id: int, principal: User, form: Form) -> Response:
    _officer(principal)
    typed = {k: web.field(form, k) for k in ("outcome", "reasons", "gpu_hours_granted", "site",
                                             "override_reason")}
    try:
        body = DecisionIn(**_decision(typed))
        web.in_transaction(request, lambda s: access.decide_proposal(
            s, principal, proposal_id, body, config=_config(request)))
    except FormError as exc:
        return _proposal_page(request, principal, proposal_id, 400, typed=typed,
                              errors={exc.name: web.translate(request, exc.message)},
                              decide_error=web.translate(request, _NOT_DECIDED))
    except ValidationError as exc:
        errors, general = field_errors(exc)
        if "factory" in errors or "partition" in errors:
            errors["site"] = errors.pop("factory", None) or errors.pop("partition")
        return _proposal_page(request, principal, proposal_id, 400, typed=typed, errors=errors,
                              decide_error="; ".join(general) or
                              web.translate(request, _NOT_DECIDED))
    except FabriekError as exc:
        return _proposal_page(request, principal, proposal_id, exc.status, typed=typed,
                              decide_error=exc.detail)
    return web.redirect(f"/officer/proposals/{proposal_id}", flash="decided")


@router.post("/officer/proposals/{proposal_id}/appeal")
def decide_appeal(request: Request, proposal_id: int, principal: User, form: Form
                  ) -> Response:
    _officer(principal)
    typed = {"reopen": web.field(form, "reopen"), "appeal_reason": web.field(form, "reason")}
    try:
        if typed["reopen"] not in ("yes", "no"):
            raise FormError("reopen", N_("choose whether to reopen the review or uphold the "
                                         "rejection"))
        body = AppealDecision(reopen=typed["reopen"] == "yes", reason=typed["appeal_reason"])
        web.in_transaction(request, lambda s: access.decide_appeal(
            s, principal, proposal_id, reopen=body.reopen, reason=body.reason,
            config=_config(request)))
    except FormError as exc:
        return _proposal_page(request, principal, proposal_id, 400, typed=typed,
                              errors={exc.name: web.translate(request, exc.message)},
                              appeal_error=web.translate(request, exc.message))
    except ValidationError as exc:
        fields, general = field_errors(exc)
        errors = {"appeal_reason": fields["reason"]} if "reason" in fields else {}
        return _proposal_page(request, principal, proposal_id, 400, typed=typed, errors=errors,
                              appeal_error="; ".join(general or fields.values()))
    except FabriekError as exc:
        return _proposal_page(request, principal, proposal_id, exc.status, typed=typed,
                              appeal_error=exc.detail)
    return web.redirect(f"/officer/proposals/{proposal_id}", flash="decided")


# --- direct allocations ------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteLoad:
    """A connected partition, and the jobs of lower classes an emergency could pre-empt there."""

    key: str
    gpu_model: str
    gpus: int
    lower_running: int
    lower_queued: int


def _direct_sites(session: Session, principal: Principal, config: AccessConfig) -> list[SiteLoad]:
    classes = config.policy.modes.priority_classes
    preempting_rank = max((p.rank for p in classes if p.preempts_lower), default=0)
    fed = federation.load_federation(session, config.federation.catalogue.federation.gpu_specs)
    sites = []
    for part in fed.partitions():
        if part.executor is ExecutorKind.none:
            continue
        jobs = [j for j in compute.factory_jobs(session, principal, part.factory_id)
                if j.partition == part.id
                and config.policy.modes.priority(j.priority_class).rank < preempting_rank]
        sites.append(SiteLoad(f"{part.factory_id}/{part.id}", part.gpu_model, part.gpus,
                              sum(j.state.value == "running" for j in jobs),
                              sum(j.state.value != "running" for j in jobs)))
    return sites


def _direct(session: Session, principal: Principal, config: AccessConfig) -> dict[str, Any]:
    organisations = identity.list_organisations(session, principal,
                                                 limit=ORGANISATION_CHOICES + 1)
    return {
        "direct_modes": [m for m in config.policy.modes.modes
                         if m.procedure.kind is ProcedureKind.direct],
        "preempting": {p.id for p in config.policy.modes.priority_classes if p.preempts_lower},
        "organisations": sorted(organisations[:ORGANISATION_CHOICES],
                                key=lambda o: o.legal_name.lower()),
        "organisation_list": len(organisations) <= ORGANISATION_CHOICES,
        "sectors": config.federation.catalogue.sectors.sectors,
        "sites": _direct_sites(session, principal, config),
        "today": utcnow().date(),
    }


def _direct_page(request: Request, principal: Principal, status_code: int = 200,
                 **typed: Any) -> Response:
    context = web.in_transaction(request, lambda s: _direct(s, principal, _config(request)),
                                 readonly=True)
    return web.render(request, "officer/direct.html", status_code=status_code,
                      **{"errors": {}, "typed": {}, **context, **typed})


@router.get("/officer/direct")
def direct_page(request: Request, principal: User, mode: str = "", organisation: str = ""
                ) -> Response:
    _officer(principal)
    return _direct_page(request, principal, typed={
        "mode": mode, "organisation_id": organisation, "start_on": utcnow().date().isoformat()})


_DIRECT_TEXT = ("mode", "organisation_id", "title", "abstract", "sector", "gpu_hours",
                "gpu_model", "gpu_memory_gb", "storage_tb", "duration_months", "start_on",
                "intended_system", "ethics_commitment", "ethics_signed_by", "reasons", "site",
                "override_reason", "datasets", "languages")


def _direct_typed(form: FormData) -> dict[str, str]:
    typed = {k: web.field(form, k) for k in _DIRECT_TEXT}
    typed["civilian_use"] = "yes" if web.field(form, "civilian_use") else ""
    typed["confidential"] = "yes" if web.field(form, "confidential") else ""
    return typed


def _direct_body(typed: dict[str, str]) -> dict[str, Any]:
    factory, _, partition = typed["site"].partition("/")
    body: dict[str, Any] = {
        "mode": typed["mode"], "title": typed["title"], "abstract": typed["abstract"],
        "sector": typed["sector"], "intended_system": typed["intended_system"],
        "reasons": typed["reasons"], "civilian_use": bool(typed["civilian_use"]),
        "confidential": bool(typed["confidential"]),
        "organisation_id": optional_int(typed["organisation_id"], "organisation_id"),
        "gpu_hours": optional_int(typed["gpu_hours"], "gpu_hours"),
        "gpu_model": typed["gpu_model"] or None,
        "gpu_memory_gb": optional_int(typed["gpu_memory_gb"], "gpu_memory_gb"),
        "storage_tb": optional_float(typed["storage_tb"], "storage_tb") or 0.0,
        "duration_months": optional_int(typed["duration_months"], "duration_months"),
        "start_on": optional_date(typed["start_on"], "start_on"),
        "ethics_commitment": typed["ethics_commitment"] or None,
        "ethics_signed_by": typed["ethics_signed_by"] or None,
        "datasets": [d.strip() for d in typed["datasets"].split(",") if d.strip()],
        "languages": [x.strip().lower() for x in typed["languages"].split(",") if x.strip()],
        "factory": factory or None, "partition": partition or None,
        "override_reason": typed["override_reason"] or None,
    }
    return body


@router.post("/officer/direct")
def make_direct(request: Request, principal: User, form: Form) -> Response:
    _officer(principal)
    typed = _direct_typed(form)
    try:
        body = DirectAllocationCreate(**_direct_body(typed))
        proposal_id = web.in_transaction(request, lambda s: access.create_direct_allocation(
            s, principal, body, config=_config(request)).id)
    except FormError as exc:
        return _direct_page(request, principal, 400, typed=typed,
                            errors={exc.name: web.translate(request, exc.message)},
                            error=web.translate(request, _NOT_ALLOCATED))
    except ValidationError as exc:
        errors, general = field_errors(exc)
        if "factory" in errors or "partition" in errors:
            errors["site"] = errors.pop("factory", None) or errors.pop("partition")
        return _direct_page(request, principal, 400, typed=typed, errors=errors,
                            error="; ".join(general) or web.translate(request, _NOT_ALLOCATED))
    except FabriekError as exc:
        return _direct_page(request, principal, exc.status, typed=typed, error=exc.detail)
    return web.redirect(f"/officer/proposals/{proposal_id}", flash="allocated")
