"""A proposal's page: its facts, the status timeline from the audit log, review comments meant
for the applicant, its AI Act self-assessment, and withdrawing or appealing it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fabriek.access import rules
from fabriek.access import service as access
from fabriek.access.enums import ProposalState
from fabriek.access.schemas import ReasonIn
from fabriek.compliance import service as compliance
from fabriek.compliance.tree_engine import Outcome
from fabriek.errors import FabriekError, NotFound
from fabriek.identity import service as identity
from fabriek.identity.principal import Principal
from fabriek.portal import forms, web
from fabriek.portal.web import Form, User

router = APIRouter(include_in_schema=False)


def _outcome(session: Session, principal: Principal, proposal_id: int) -> Outcome | None:
    try:
        link = compliance.proposal_self_assessment(session, principal, proposal_id)
    except NotFound:
        return None
    return Outcome.model_validate(
        compliance.get_assessment(session, principal, link.assessment_id).outcome)


def _context(session: Session, request: Request, principal: Principal, proposal_id: int
             ) -> dict[str, Any]:
    proposal = access.get_proposal(session, principal, proposal_id)
    view = access.proposal_view(session, principal, proposal)
    member = rules.can_edit_proposal(principal, proposal.organisation_id)
    try:  # members and officers see the organisation; an assigned reviewer only the proposal
        org_name = identity.get_organisation(session, principal,
                                             proposal.organisation_id).legal_name
    except NotFound:
        org_name = None
    return {
        "proposal": view,
        "organisation_name": org_name,
        "mode": request.app.state.access.policy.modes.mode(view.mode),
        "events": access.proposal_events(session, principal, proposal_id),
        "outcome": _outcome(session, principal, proposal_id),
        "can_withdraw": member and view.state in ProposalState.withdrawable_states(),
        "can_appeal": member and view.state is ProposalState.rejected
        and view.appeal_reason is None,
        "is_member": member,
    }


def _page(request: Request, principal: Principal, proposal_id: int, *, status_code: int = 200,
          **extra: Any) -> Response:
    context = web.in_transaction(request, lambda s: _context(s, request, principal,
                                                            proposal_id), readonly=True)
    return web.render(request, "applicant/proposal.html", status_code=status_code,
                      **context, **extra)


@router.get("/proposals/{proposal_id}")
def proposal_page(request: Request, principal: User, proposal_id: int) -> Response:
    return _page(request, principal, proposal_id)


def _with_reason(request: Request, principal: Principal, form: Any, proposal_id: int,
                 action: str) -> Response:
    """Withdraw or appeal: the reason validated as the API validates it, then the service."""
    reason = web.field(form, "reason")
    try:
        body = ReasonIn.model_validate({"reason": reason})
        do = access.withdraw_proposal if action == "withdraw" else access.appeal_proposal
        web.in_transaction(request, lambda s: do(s, principal, proposal_id,
                                                 reason=body.reason))
    except ValidationError as exc:
        return _page(request, principal, proposal_id, status_code=400, action=action,
                     reason=reason, problems=forms.problems_of(exc, known=("reason",)))
    except FabriekError as exc:
        return _page(request, principal, proposal_id, status_code=exc.status, action=action,
                     reason=reason, error=exc.detail)
    return web.redirect(f"/proposals/{proposal_id}",
                        flash="withdrawn" if action == "withdraw" else "appealed")


@router.post("/proposals/{proposal_id}/withdraw")
def withdraw(request: Request, principal: User, form: Form, proposal_id: int) -> Response:
    return _with_reason(request, principal, form, proposal_id, "withdraw")


@router.post("/proposals/{proposal_id}/appeal")
def appeal(request: Request, principal: User, form: Form, proposal_id: int) -> Response:
    return _with_reason(request, principal, form, proposal_id, "appeal")
