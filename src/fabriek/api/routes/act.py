"""AI Act helpdesk: the self-assessment tree, assessments, a proposal's self-assessment (the
gate), and the compute ledger per model."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from fabriek.api.deps import (
    IdempotencyHeader,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    commit_and_respond,
    idempotent,
)
from fabriek.compliance import ledger, service
from fabriek.compliance.ledger_gpus import peak_flops_now
from fabriek.compliance.schemas import (
    AssessmentCreate,
    AssessmentRead,
    LedgerBasisIn,
    LedgerRead,
    ProposalSelfAssessment,
    SelfAssessmentAttach,
)
from fabriek.compliance.tree import Tree, load_tree

router = APIRouter(prefix="/api/v1", tags=["ai-act"])

ModelName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/+-]+$",
                                description="The model name jobs are tagged with.")]


async def _tree(request: Request) -> Tree:
    # Loaded once per app, from the same policy directory as the access policy.
    state = request.app.state
    if getattr(state, "act_tree", None) is None:
        state.act_tree = load_tree(state.settings.policy_dir)
    return state.act_tree


ActTree = Annotated[Tree, Depends(_tree)]


@router.get("/act/tree")
def tree(act_tree: ActTree) -> dict[str, Any]:
    """The self-assessment tree (questions, options, citations, outcomes) and its dates."""
    dates = act_tree.dates.model_dump(mode="json")
    return {**act_tree.data.model_dump(mode="json"), "dates_version": dates["version"],
            "dates": dates["dates"]}


@router.post("/act/assessments", response_model=AssessmentRead, status_code=201)
def create_assessment(body: AssessmentCreate, request: Request, session: WriteSession,
                      principal: Writer, act_tree: ActTree,
                      key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Assess answers for one of your organisations; the outcome comes back with its path."""
    return idempotent(request, session, principal, key, body, lambda: service.assessment_view(
        service.create_assessment(session, principal, body, tree=act_tree)), 201)


@router.get("/act/assessments/{assessment_id}", response_model=AssessmentRead)
def show_assessment(assessment_id: int, session: ReadSession, principal: Reader
                    ) -> AssessmentRead:
    return service.assessment_view(service.get_assessment(session, principal, assessment_id))


@router.put("/proposals/{proposal_id}/self-assessment", response_model=ProposalSelfAssessment,
            tags=["proposals"])
def attach(proposal_id: int, body: SelfAssessmentAttach, session: WriteSession,
           principal: Writer):  # type: ignore[no-untyped-def]
    """Attach a self-assessment of the same organisation to a draft proposal."""
    service.attach_to_proposal(session, principal, proposal_id, body.assessment_id)
    return commit_and_respond(session, service.proposal_self_assessment(
        session, principal, proposal_id))


@router.get("/proposals/{proposal_id}/self-assessment", response_model=ProposalSelfAssessment,
            tags=["proposals"])
def proposal_assessment(proposal_id: int, session: ReadSession, principal: Reader
                        ) -> ProposalSelfAssessment:
    """The proposal's self-assessment for reviewers: categories, obligations, sandboxes."""
    return service.proposal_self_assessment(session, principal, proposal_id)


@router.get("/act/ledger/{model}", response_model=LedgerRead)
def show_ledger(model: ModelName, session: ReadSession, principal: Reader,
                organisation_id: int | None = None) -> LedgerRead:
    """Training compute of a model on the platform, against 10^23 and 10^25 FLOP."""
    return ledger.get_ledger(session, principal, model, organisation_id=organisation_id,
                             peak_flops=peak_flops_now(session))


@router.put("/act/ledger/{model}/basis", response_model=LedgerRead)
def set_basis(model: ModelName, body: LedgerBasisIn, session: WriteSession, principal: Writer,
              ):  # type: ignore[no-untyped-def]
    """Set a measured utilisation or report the FLOP directly (the model's organisation)."""
    peak = peak_flops_now(session)
    row = ledger.set_basis(session, principal, model, body, peak_flops=peak)
    return commit_and_respond(session, ledger.get_ledger(
        session, principal, model, organisation_id=row.organisation_id, peak_flops=peak))
