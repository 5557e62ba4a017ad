"""Use cases of the AI Act self-assessment: assess, read, attach to a proposal, show reviewers.

Every function: load → authorise (404 before 403) → pure policy → change → audit. None commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from fabriek.access import service as access
from fabriek.access.enums import ProposalState, ReviewState
from fabriek.access.models import Review
from fabriek.audit.service import record
from fabriek.compliance.models import ActAssessment, ProposalAssessment
from fabriek.compliance.schemas import AssessmentCreate, AssessmentRead, ProposalSelfAssessment
from fabriek.compliance.tree import Tree
from fabriek.compliance.tree_engine import Outcome, assess
from fabriek.errors import Conflict, Forbidden, NotFound
from fabriek.identity.enums import Role
from fabriek.identity.models import Organisation
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow


def create_assessment(session: Session, principal: Principal, data: AssessmentCreate, *,
                      tree: Tree, now: datetime | None = None) -> ActAssessment:
    """Assess the answers and store them with the outcome for the organisation.

    Raises: NotFound (organisation not visible), Forbidden (an officer, not a member),
    AnswerError (422, naming the question) before anything is written.
    """
    org = session.get(Organisation, data.organisation_id)
    if org is None or not (principal.is_member(org.id) or principal.has(Role.access_officer)):
        raise NotFound(f"organisation {data.organisation_id} not found")
    if not principal.is_member(org.id):
        raise Forbidden("only members of the organisation may self-assess on its behalf")
    outcome = assess(tree, data.answers, data.lang)
    assert principal.user_id is not None
    row = ActAssessment(organisation_id=org.id, created_by_id=principal.user_id,
                        tree_version=outcome.tree_version, lang=data.lang,
                        answers=dict(data.answers), outcome=outcome.model_dump(mode="json"),
                        categories=outcome.category_ids, created_at=now or utcnow())
    session.add(row)
    session.flush()
    record(session, principal, "act.assessment-created", subject_type="act-assessment",
           subject_id=row.id, organisation_id=org.id,
           data={"categories": row.categories, "tree_version": row.tree_version})
    return row


def _assigned_reviewer(session: Session, principal: Principal, assessment_id: int) -> bool:
    """A reviewer assigned (without a conflict) to a proposal that carries this assessment."""
    if not principal.has(Role.reviewer) or principal.user_id is None:
        return False
    return session.execute(
        select(Review.id).join(ProposalAssessment,
                               ProposalAssessment.proposal_id == Review.proposal_id)
        .where(ProposalAssessment.assessment_id == assessment_id,
               Review.reviewer_id == principal.user_id,
               Review.state != ReviewState.conflict).limit(1)).first() is not None


def get_assessment(session: Session, principal: Principal, assessment_id: int) -> ActAssessment:
    """Readable by its organisation, access officers, and reviewers of a proposal carrying it.
    Raises: NotFound for everyone else."""
    row = session.get(ActAssessment, assessment_id)
    if row is None or not (principal.is_member(row.organisation_id)
                           or principal.has(Role.access_officer)
                           or _assigned_reviewer(session, principal, assessment_id)):
        raise NotFound(f"self-assessment {assessment_id} not found")
    return row


def assessment_view(row: ActAssessment) -> AssessmentRead:
    return AssessmentRead(id=row.id, organisation_id=row.organisation_id,
                          created_by_id=row.created_by_id, tree_version=row.tree_version,
                          lang=row.lang, answers=row.answers, categories=row.categories,
                          outcome=Outcome.model_validate(row.outcome), created_at=row.created_at)


def attach_to_proposal(session: Session, principal: Principal, proposal_id: int,
                       assessment_id: int, *, now: datetime | None = None
                       ) -> ProposalAssessment:
    """A draft proposal carries this self-assessment of the same organisation from now on.

    Raises: NotFound (proposal or assessment not visible), Forbidden (not a member),
    Conflict (not a draft, or the assessment is another organisation's).
    """
    proposal = access.get_proposal(session, principal, proposal_id, for_update=True)
    if not principal.is_member(proposal.organisation_id):
        raise Forbidden("only members of the organisation may change its proposals")
    if proposal.state is not ProposalState.draft:
        raise Conflict(f"a self-assessment can only be attached to a draft; this proposal is "
                       f"{proposal.state.value}")
    assessment = get_assessment(session, principal, assessment_id)
    if assessment.organisation_id != proposal.organisation_id:
        raise Conflict(f"self-assessment {assessment_id} belongs to another organisation than "
                       "the proposal")
    assert principal.user_id is not None
    attached = session.info.setdefault(_ATTACHED, {})
    if proposal.id in attached:
        link: ProposalAssessment | None = attached[proposal.id][0]
    elif access.drafted_here(session, proposal.id):  # none in the database: no need to look
        link = None
    else:
        link = session.get(ProposalAssessment, proposal.id)
    previous = link.assessment_id if link is not None else None
    if link is None:
        link = ProposalAssessment(proposal_id=proposal.id)
        session.add(link)
    link.assessment_id, link.attached_by_id = assessment.id, principal.user_id
    link.attached_at = now or utcnow()
    # Written with the transaction's next flush; the admission checks of a submission in the
    # same transaction read it from here (attached_here), not from the database.
    attached[proposal.id] = (link, assessment)
    record(session, principal, "proposal.self-assessment-attached", subject_type="proposal",
           subject_id=proposal.id, organisation_id=proposal.organisation_id,
           data={"assessment_id": assessment.id, "replaced": previous,
                 "categories": assessment.categories})
    return link


_ATTACHED = "fabriek_attached_assessments"


def attached_here(session: Session, proposal_id: int) -> ActAssessment | None:
    """The self-assessment this transaction attached to the proposal, if it did."""
    hit = session.info.get(_ATTACHED, {}).get(proposal_id)
    return hit[1] if hit is not None else None


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_attached(session: Session) -> None:
    session.info.pop(_ATTACHED, None)


def proposal_self_assessment(session: Session, principal: Principal, proposal_id: int
                             ) -> ProposalSelfAssessment:
    """The proposal's self-assessment as reviewers see it. Raises: NotFound."""
    proposal = access.get_proposal(session, principal, proposal_id)
    link = session.get(ProposalAssessment, proposal.id)
    if link is None:
        raise NotFound(f"proposal {proposal_id} carries no self-assessment yet")
    row = session.get(ActAssessment, link.assessment_id)
    assert row is not None
    outcome = Outcome.model_validate(row.outcome)
    return ProposalSelfAssessment(
        proposal_id=proposal.id, assessment_id=row.id, attached_at=link.attached_at,
        tree_version=row.tree_version, role=outcome.role_label,
        categories=outcome.category_ids,
        notable=[c.label for c in outcome.categories if c.notable],
        obligations=outcome.obligations, advice=outcome.advice)
