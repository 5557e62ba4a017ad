"""The reviewer's pages: the review queue, a proposal as reviewers see it, the conflict of
interest declaration and the scores per criterion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from fabriek.access import service as access
from fabriek.access.enums import ProposalState, ReviewState
from fabriek.access.policy_files import AccessMode, Criterion
from fabriek.access.schemas import ProposalRead, ReasonIn, ReviewRead, ReviewSubmit
from fabriek.access.service import AccessConfig
from fabriek.errors import FabriekError
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.portal import web
from fabriek.portal.i18n import N_
from fabriek.portal.routes._staff import FieldErrors, field_errors, require_role
from fabriek.portal.web import Form, User

router = APIRouter(include_in_schema=False)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class QueueRow:
    review: ReviewRead
    proposal: ProposalRead
    mode_label: str


def _config(request: Request) -> AccessConfig:
    return request.app.state.access


def _queue(session: Session, principal: Principal, config: AccessConfig) -> list[QueueRow]:
    rows = []
    for review in access.list_my_reviews(session, principal):
        proposal = access.get_proposal(session, principal, review.proposal_id)
        mode = config.policy.modes.mode(proposal.mode)
        rows.append(QueueRow(ReviewRead.model_validate(review),
                             access.proposal_view(session, principal, proposal, detail=False),
                             mode.label if mode else proposal.mode))
    # What still needs the reviewer first, then by due date.
    rows.sort(key=lambda r: (r.review.state is not ReviewState.assigned,
                             r.proposal.decision_due_at is None,
                             r.proposal.decision_due_at or _EPOCH, r.review.id))
    return rows


@router.get("/reviews")
def queue(request: Request, principal: User) -> Response:
    require_role(principal, Role.reviewer)
    rows = web.in_transaction(request, lambda s: _queue(s, principal, _config(request)),
                              readonly=True)
    return web.render(request, "reviews/queue.html", rows=rows)


def _criteria(mode: AccessMode, review: ReviewRead) -> list[Criterion]:
    requirement = next((r for r in mode.procedure.reviews if r.kind is review.kind), None)
    return list(requirement.criteria) if requirement else []


def _context(session: Session, principal: Principal, review_id: int, config: AccessConfig
             ) -> dict[str, Any]:
    review = access.get_my_review(session, principal, review_id)
    # Through the service's visibility rule: after a declared conflict the proposal is gone.
    proposal = access.get_proposal(session, principal, review.proposal_id)
    applicant = access.applicant_of(session, principal, proposal.id)
    mode = config.mode(proposal.mode)
    mine = ReviewRead.model_validate(review)
    return {
        "review": mine, "proposal": access.proposal_view(session, principal, proposal),
        "applicant": {"name": applicant.legal_name, "country": applicant.country},
        "mode": mode, "criteria": _criteria(mode, mine),
        "scale": list(range(mode.procedure.score_scale[0], mode.procedure.score_scale[1] + 1)),
        "can_score": mine.state is ReviewState.assigned
        and proposal.state is ProposalState.in_review,
    }


def _page(request: Request, principal: Principal, review_id: int, status_code: int = 200,
          **typed: Any) -> Response:
    context = web.in_transaction(
        request, lambda s: _context(s, principal, review_id, _config(request)), readonly=True)
    return web.render(request, "reviews/review.html", status_code=status_code,
                      **{"errors": {}, "scores": {}, **context, **typed})


@router.get("/reviews/{review_id}")
def review_page(request: Request, review_id: int, principal: User) -> Response:
    require_role(principal, Role.reviewer)
    return _page(request, principal, review_id)


@router.post("/reviews/{review_id}/conflict")
def declare_conflict(request: Request, review_id: int, principal: User, form: Form) -> Response:
    require_role(principal, Role.reviewer)
    reason = web.field(form, "reason")
    try:
        body = ReasonIn(reason=reason)
        web.in_transaction(request, lambda s: access.declare_conflict(
            s, principal, review_id, reason=body.reason))
    except ValidationError as exc:
        fields, _ = field_errors(exc)
        return _page(request, principal, review_id, 400, conflict_reason=reason,
                     errors={"conflict_reason": fields.get("reason", "")},
                     conflict_error=fields.get("reason"))
    except FabriekError as exc:
        return _page(request, principal, review_id, exc.status, conflict_reason=reason,
                     conflict_error=exc.detail)
    return web.redirect("/reviews", flash="conflict-declared")


def _scores(request: Request, form: FormData, criteria: list[Criterion], scale: list[int]
            ) -> tuple[dict[str, int], FieldErrors]:
    """The score chosen for each criterion; a criterion left out or a value off the scale is
    named next to its own question."""
    scores: dict[str, int] = {}
    errors: FieldErrors = {}
    for criterion in criteria:
        raw = web.field(form, f"score-{criterion.id}")
        if not raw:
            errors[f"score-{criterion.id}"] = web.translate(
                request, N_("choose a score for this criterion"))
        elif not raw.lstrip("-").isdigit() or int(raw) not in scale:
            errors[f"score-{criterion.id}"] = web.translate(
                request, N_("choose a score from %(low)s to %(high)s"), low=scale[0],
                high=scale[-1])
        else:
            scores[criterion.id] = int(raw)
    return scores, errors


@router.post("/reviews/{review_id}/submit")
def submit_review(request: Request, review_id: int, principal: User, form: Form) -> Response:
    require_role(principal, Role.reviewer)
    config = _config(request)
    context = web.in_transaction(request, lambda s: _context(s, principal, review_id, config),
                                 readonly=True)
    scores, errors = _scores(request, form, context["criteria"], context["scale"])
    comment = web.field(form, "comment_to_applicant")
    private = web.field(form, "private_comment")
    typed = {"scores": scores, "comment_to_applicant": comment, "private_comment": private}
    if errors:
        return _page(request, principal, review_id, 400, errors=errors,
                     score_error=web.translate(
                         request, N_("some criteria have no valid score; see each question")),
                     **typed)
    try:
        body = ReviewSubmit(scores=scores, comment_to_applicant=comment,
                            private_comment=private)
        web.in_transaction(request, lambda s: access.submit_review(
            s, principal, review_id, body, config=config))
    except ValidationError as exc:
        fields, general = field_errors(exc)
        return _page(request, principal, review_id, 400, errors=fields,
                     score_error="; ".join(general or fields.values()), **typed)
    except FabriekError as exc:
        return _page(request, principal, review_id, exc.status, score_error=exc.detail,
                     **typed)
    return web.redirect(f"/reviews/{review_id}", flash="review-submitted")
