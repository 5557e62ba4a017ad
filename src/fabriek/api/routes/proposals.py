"""Proposals: draft, submit, review, decide, withdraw, appeal; and cut-offs."""

from __future__ import annotations

from fastapi import APIRouter, Request

from fabriek.access import service
from fabriek.access.enums import ProposalState
from fabriek.access.models import Proposal
from fabriek.access.schemas import (
    AppealDecision,
    CutoffRelease,
    CutoffReleased,
    DecisionIn,
    ProposalCreate,
    ProposalRead,
    ProposalUpdate,
    ReasonIn,
    ReviewAssign,
    ReviewRead,
    ReviewSubmit,
)
from fabriek.access.service import AccessConfig
from fabriek.api.deps import (
    Access,
    IdempotencyHeader,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    commit_and_respond,
    idempotent,
    read_only,
)
from fabriek.api.pagination import After, Limit, Page, page
from fabriek.compliance import service as act
from fabriek.federation.referral_schemas import ReferralRead, referral_read
from fabriek.federation.referrals import Referral
from fabriek.identity.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["proposals"])


def _view(session, principal: Principal, proposal) -> ProposalRead:  # type: ignore[no-untyped-def]
    return service.proposal_view(session, principal, proposal)


@router.post("/proposals", response_model=ProposalRead, status_code=201)
def create(body: ProposalCreate, request: Request, session: WriteSession, principal: Writer,
           access: Access, key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Draft a proposal for one of your organisations.

    With `self_assessment_id` and `submit` it is also given its AI Act self-assessment and
    submitted, in one transaction: a Playground application is decided in this one request,
    and when any step is refused nothing is kept.
    """
    ranked = None
    if body.submit:  # ranked before the write transaction: see service.rank_ahead
        with read_only(request) as reading:
            ranked = service.rank_ahead(reading, principal, body, config=access)
    return idempotent(request, session, principal, key, body, lambda: _view(
        session, principal, _apply(session, principal, body, access, ranked)), 201)


def _apply(session, principal: Principal, body: ProposalCreate,  # type: ignore[no-untyped-def]
           access: AccessConfig, ranked: Referral | None = None) -> Proposal:
    proposal = service.create_proposal(session, principal, body, config=access)
    if body.self_assessment_id is not None:
        act.attach_to_proposal(session, principal, proposal.id, body.self_assessment_id)
    if body.submit:
        proposal = service.submit_proposal(session, principal, proposal.id, config=access,
                                           ranked=ranked)
    return proposal


@router.get("/proposals/{proposal_id}/referral", response_model=ReferralRead)
def referral(proposal_id: int, session: ReadSession, principal: Reader, access: Access
             ) -> ReferralRead:
    """The AI Factories ranked for this proposal, each score explained term by term.

    Automatic modes allocate on the first; an access officer may choose another with a reason.
    """
    found = service.proposal_referral(session, principal, proposal_id, config=access)
    return referral_read(proposal_id, found, access.federation.referral.version)


@router.get("/proposals", response_model=Page[ProposalRead])
def list_(session: ReadSession, principal: Reader, limit: Limit = 50, after: After = 0,
          state: ProposalState | None = None, mode: str | None = None,
          organisation_id: int | None = None) -> Page[ProposalRead]:
    rows = service.list_proposals(session, principal, state=state, mode=mode,
                                  organisation_id=organisation_id, after=after, limit=limit)
    return page([service.proposal_view(session, principal, p, detail=False) for p in rows],
                [p.id for p in rows], limit)


@router.get("/proposals/{proposal_id}", response_model=ProposalRead)
def show(proposal_id: int, session: ReadSession, principal: Reader) -> ProposalRead:
    return _view(session, principal, service.get_proposal(session, principal, proposal_id))


@router.patch("/proposals/{proposal_id}", response_model=ProposalRead)
def update(proposal_id: int, body: ProposalUpdate, session: WriteSession, principal: Writer,
           access: Access):  # type: ignore[no-untyped-def]
    proposal = service.update_proposal(session, principal, proposal_id, body, config=access)
    return commit_and_respond(session, _view(session, principal, proposal))


@router.post("/proposals/{proposal_id}/submit", response_model=ProposalRead)
def submit(proposal_id: int, request: Request, session: WriteSession, principal: Writer,
           access: Access, key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Submit a draft: the admission checks run at once; Playground is decided on them."""
    with read_only(request) as reading:  # see service.rank_ahead
        ranked = service.rank_ahead_of(reading, principal, proposal_id, config=access)
    return idempotent(request, session, principal, key, None, lambda: _view(
        session, principal, service.submit_proposal(session, principal, proposal_id,
                                                    config=access, ranked=ranked)))


@router.post("/proposals/{proposal_id}/withdraw", response_model=ProposalRead)
def withdraw(proposal_id: int, body: ReasonIn, request: Request, session: WriteSession,
             principal: Writer, key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    return idempotent(request, session, principal, key, body, lambda: _view(
        session, principal, service.withdraw_proposal(session, principal, proposal_id,
                                                      reason=body.reason)))


@router.post("/proposals/{proposal_id}/appeal", response_model=ProposalRead)
def appeal(proposal_id: int, body: ReasonIn, request: Request, session: WriteSession,
           principal: Writer, key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Appeal a rejection (once)."""
    return idempotent(request, session, principal, key, body, lambda: _view(
        session, principal, service.appeal_proposal(session, principal, proposal_id,
                                                    reason=body.reason)))


@router.post("/proposals/{proposal_id}/appeal-decision", response_model=ProposalRead)
def appeal_decision(proposal_id: int, body: AppealDecision, request: Request,
                    session: WriteSession, principal: Writer, access: Access,
                    key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """An access officer reopens an appealed proposal for review, or dismisses the appeal."""
    return idempotent(request, session, principal, key, body, lambda: _view(
        session, principal, service.decide_appeal(session, principal, proposal_id,
                                                  reopen=body.reopen, reason=body.reason,
                                                  config=access)))


@router.post("/proposals/{proposal_id}/decision", response_model=ProposalRead)
def decide(proposal_id: int, body: DecisionIn, request: Request, session: WriteSession,
           principal: Writer, access: Access, key: IdempotencyHeader = None
           ):  # type: ignore[no-untyped-def]
    """An access officer accepts, accepts with less, or rejects, with reasons."""
    return idempotent(request, session, principal, key, body, lambda: _view(
        session, principal, service.decide_proposal(session, principal, proposal_id, body,
                                                    config=access)))


@router.post("/proposals/{proposal_id}/reviews", response_model=ReviewRead, status_code=201)
def assign(proposal_id: int, body: ReviewAssign, request: Request, session: WriteSession,
           principal: Writer, access: Access, key: IdempotencyHeader = None
           ):  # type: ignore[no-untyped-def]
    """An access officer assigns a reviewer (never one from the applicant organisation)."""
    return idempotent(request, session, principal, key, body, lambda: ReviewRead.model_validate(
        service.assign_reviewer(session, principal, proposal_id, reviewer_id=body.reviewer_id,
                                kind=body.kind, config=access)), 201)


@router.get("/reviews", response_model=list[ReviewRead], tags=["reviews"])
def my_reviews(session: ReadSession, principal: Reader) -> list[ReviewRead]:
    """Your review assignments (conflicts declared are left out)."""
    return [ReviewRead.model_validate(r) for r in service.list_my_reviews(session, principal)]


@router.post("/reviews/{review_id}/conflict", response_model=ReviewRead, tags=["reviews"])
def conflict(review_id: int, body: ReasonIn, request: Request, session: WriteSession,
             principal: Writer, key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Declare a conflict of interest; the proposal disappears from your view."""
    return idempotent(request, session, principal, key, body, lambda: ReviewRead.model_validate(
        service.declare_conflict(session, principal, review_id, reason=body.reason)))


@router.post("/reviews/{review_id}/submit", response_model=ReviewRead, tags=["reviews"])
def submit_review(review_id: int, body: ReviewSubmit, request: Request, session: WriteSession,
                  principal: Writer, access: Access, key: IdempotencyHeader = None
                  ):  # type: ignore[no-untyped-def]
    return idempotent(request, session, principal, key, body, lambda: ReviewRead.model_validate(
        service.submit_review(session, principal, review_id, body, config=access)))


@router.post("/cutoffs/release", response_model=CutoffReleased, tags=["proposals"])
def release(body: CutoffRelease, session: WriteSession, principal: Writer, access: Access
            ):  # type: ignore[no-untyped-def]
    """Open review for every proposal of a mode whose cut-off has passed. Safe to repeat."""
    released = service.release_cutoff(session, principal, body.mode, config=access)
    return commit_and_respond(session, CutoffReleased(mode=body.mode,
                                                released=[p.id for p in released]))
