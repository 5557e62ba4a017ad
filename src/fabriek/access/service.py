"""Use cases of the access capability: proposals, reviews, decisions and allocations.

Every function: load → authorise (404 before 403) → policy → change → audit. None commits:
the edge (API request, CLI command, task) owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, event, func, insert, or_, select, update
from sqlalchemy.orm import Session

from fabriek.access import policy as pol
from fabriek.access import rules
from fabriek.access.checks import DEFAULT_CHECKS, AdmissionCheck, CheckContext, ProposalFacts
from fabriek.access.enums import (
    AllocationState,
    DecidedBy,
    DecisionOutcome,
    ProcedureKind,
    ProposalState,
    ReviewKind,
    ReviewState,
)
from fabriek.access.models import Allocation, AllocationSite, CheckRun, Proposal, Review
from fabriek.access.policy_files import AccessMode, AccessPolicy, TimeUnit
from fabriek.access.schemas import (
    FOLLOW_UPS,
    AllocationRead,
    AllocationSiteRead,
    AllocationSitesIn,
    CheckRead,
    DecisionIn,
    DirectAllocationCreate,
    ProposalCreate,
    ProposalRead,
    ProposalUpdate,
    ReviewRead,
    ReviewSubmit,
)
from fabriek.audit.models import AuditEvent
from fabriek.audit.schemas import AuditEventRead
from fabriek.audit.service import record
from fabriek.errors import Conflict, Forbidden, NotFound, PolicyRefusal, ValidationFailed
from fabriek.federation import referrals
from fabriek.federation.referrals import FederationConfig, Referral
from fabriek.identity.enums import Role
from fabriek.identity.models import Membership, Organisation, User, UserRole
from fabriek.identity.principal import SYSTEM, Principal
from fabriek.kit.clock import as_utc, utcnow

S = ProposalState

# Children of a proposal that this transaction knows completely because it just wrote them (a
# new draft has none; a draft being submitted has only the checks and allocation written now).
# proposal_view uses them instead of reading back what was just written.
_KNOWN = "fabriek_known_children"


class StoredCheck(NamedTuple):
    """A check run as stored (CheckRun's columns but its id), without an ORM object's cost."""

    proposal_id: int
    attempt: int
    check: str
    passed: bool
    rule: str
    message: str
    ran_at: datetime


@dataclass(frozen=True)
class _Known:
    checks: list[StoredCheck]
    allocation_ids: list[int]


def _know(session: Session, proposal: Proposal, checks: list[StoredCheck],
          allocation_ids: list[int]) -> None:
    session.info.setdefault(_KNOWN, {})[proposal.id] = _Known(checks, allocation_ids)


def _known(session: Session, proposal_id: int) -> _Known | None:
    """What this transaction wrote of a proposal it created or submitted, if it did."""
    return session.info.get(_KNOWN, {}).get(proposal_id)


def drafted_here(session: Session, proposal_id: int) -> bool:
    """Whether this transaction drafted the proposal (it has no children in the database).

    True also after a submission in this transaction, which only a draft can have had."""
    return _known(session, proposal_id) is not None


_HELD = "fabriek_held_objects"


def _hold(session: Session, *objects: object) -> None:
    """Keep objects alive until the transaction ends: the session's identity map holds them
    only weakly, and the next `session.get` of one would read it from the database again."""
    session.info.setdefault(_HELD, []).extend(objects)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_known(session: Session) -> None:
    session.info.pop(_KNOWN, None)
    session.info.pop(_HELD, None)


def _default_checks() -> tuple[AdmissionCheck, ...]:
    from fabriek.federation.checks import check_capacity

    return (*DEFAULT_CHECKS, check_capacity)


# --- context providers: other capabilities hand admission checks their data ---------------
# A provider reads what its checks need about a proposal; its dict is merged into
# CheckContext.extra (e.g. compliance's AI Act self-assessment, fabriek.compliance.gate).
ContextProvider = Callable[[Session, Proposal], Mapping[str, Any]]


@dataclass(frozen=True)
class AccessConfig:
    """Policy and the admission checks in force; built once at start-up."""

    policy: AccessPolicy
    checks: Sequence[AdmissionCheck] = field(default_factory=_default_checks)
    context_providers: Sequence[ContextProvider] = ()
    federation: FederationConfig = field(default_factory=FederationConfig.default)

    def versions(self) -> dict[str, str]:
        """Every policy file a decision reads, by version (kept on each proposal)."""
        return {**self.policy.versions(), **self.federation.versions()}

    def mode(self, mode_id: str) -> AccessMode:
        mode = self.policy.modes.mode(mode_id)
        if mode is None:
            known = ", ".join(m.id for m in self.policy.modes.modes)
            raise ValidationFailed(f"unknown access mode {mode_id!r}; the modes are: {known}")
        return mode


def _forbid(ok: bool, message: str) -> None:
    if not ok:
        raise Forbidden(message)


def _transition(session: Session, actor: Principal, proposal: Proposal, target: ProposalState,
                *, reason: str = "", data: dict[str, Any] | None = None) -> None:
    """The one place a proposal changes state: check the table, set, audit."""
    pol.check_transition(proposal.state, target)
    previous = proposal.state
    proposal.state = target
    record(session, actor, f"proposal.{target.value}", subject_type="proposal",
           subject_id=proposal.id, organisation_id=proposal.organisation_id,
           from_state=previous.value, to_state=target.value, reason=reason, data=data)


# --- reading -----------------------------------------------------------------------------------


def _review_pairs(session: Session, proposal_id: int) -> list[tuple[int, ReviewState]]:
    return list(session.execute(select(Review.reviewer_id, Review.state)
                                .where(Review.proposal_id == proposal_id)).all())


def _review_pairs_when_asked(session: Session, proposal_id: int
                             ) -> Iterator[tuple[int, ReviewState]]:
    """The same, read only if iterated: members and officers see a proposal without them."""
    yield from _review_pairs(session, proposal_id)


def get_proposal(session: Session, principal: Principal, proposal_id: int,
                 *, for_update: bool = False) -> Proposal:
    """Raises: NotFound when it does not exist or the principal may not see it."""
    # A proposal this transaction created or submitted is in the session, current, and
    # already this transaction's alone (new rows are invisible to others until commit;
    # submitted ones were read FOR UPDATE): no need to read and lock it again.
    proposal = session.get(Proposal, proposal_id) if _known(session, proposal_id) else None
    if proposal is None:
        q = select(Proposal).where(Proposal.id == proposal_id)
        if for_update:
            q = q.with_for_update()
        proposal = session.execute(q).scalar_one_or_none()
    if proposal is None or not rules.can_see_proposal(
            principal, proposal.organisation_id, _review_pairs_when_asked(session, proposal_id)):
        raise NotFound(f"proposal {proposal_id} not found")
    return proposal


def applicant_of(session: Session, principal: Principal, proposal_id: int) -> Organisation:
    """The organisation that applied, for whoever may see the proposal: an assigned reviewer
    needs its name and country to judge a conflict of interest. Raises: NotFound."""
    proposal = get_proposal(session, principal, proposal_id)
    org = session.get(Organisation, proposal.organisation_id)
    assert org is not None
    return org


@dataclass(frozen=True)
class QueueSummary:
    """What an access officer's queue counts: proposals per mode and state, and the submitted
    ones held for a cut-off, per mode and cut-off moment."""

    by_state: dict[str, dict[ProposalState, int]]
    held: dict[str, dict[datetime, int]]


def queue_summary(session: Session, principal: Principal) -> QueueSummary:
    """Counts for the access office, two aggregate queries however many proposals exist.

    Raises: Forbidden (access officers only).
    """
    _forbid(rules.can_decide(principal), "only access officers see the access office's queue")
    by_state: dict[str, dict[ProposalState, int]] = {}
    for mode, state, n in session.execute(select(Proposal.mode, Proposal.state, func.count())
                                          .group_by(Proposal.mode, Proposal.state)).all():
        by_state.setdefault(mode, {})[state] = n
    held: dict[str, dict[datetime, int]] = {}
    for mode, cutoff, n in session.execute(
            select(Proposal.mode, Proposal.cutoff_at, func.count())
            .where(Proposal.state == S.submitted, Proposal.cutoff_at.is_not(None))
            .group_by(Proposal.mode, Proposal.cutoff_at)).all():
        held.setdefault(mode, {})[as_utc(cutoff)] = n
    return QueueSummary(by_state, held)


def list_proposals(
    session: Session, principal: Principal, *, state: ProposalState | None = None,
    mode: str | None = None, organisation_id: int | None = None, after: int = 0, limit: int = 50,
    newest_first: bool = False,
) -> list[Proposal]:
    order = Proposal.id.desc() if newest_first else Proposal.id
    q = select(Proposal).where(Proposal.id > after).order_by(order).limit(limit)
    if not principal.has(Role.access_officer):
        assigned = select(Review.proposal_id).where(
            Review.reviewer_id == principal.user_id, Review.state != ReviewState.conflict)
        visible = Proposal.organisation_id.in_(principal.organisation_ids or {-1})
        if principal.has(Role.reviewer):
            visible = visible | Proposal.id.in_(assigned)
        q = q.where(visible)
    if state is not None:
        q = q.where(Proposal.state == state)
    if mode is not None:
        q = q.where(Proposal.mode == mode)
    if organisation_id is not None:
        q = q.where(Proposal.organisation_id == organisation_id)
    return list(session.execute(q).scalars())


def proposal_events(session: Session, principal: Principal, proposal_id: int
                    ) -> list[AuditEventRead]:
    """The audit trail of one proposal and its allocations, oldest first, as this principal
    may see it: exactly what GET /api/v1/audit shows them of these subjects. Members of the
    organisation and access officers see the events; reviewers stay anonymous and their
    reasons and ids hidden to all but officers (rules.audit_event_for); anyone else who may
    see the proposal (an assigned reviewer) sees no events, as the API shows them none.
    Raises: NotFound when the proposal is not visible.
    """
    proposal = get_proposal(session, principal, proposal_id)
    officer = principal.has(Role.access_officer)
    if not (officer or principal.is_member(proposal.organisation_id)):
        return []
    allocations = select(Allocation.id).where(Allocation.proposal_id == proposal.id)
    q = select(AuditEvent).where(or_(
        and_(AuditEvent.subject_type == "proposal", AuditEvent.subject_id == proposal.id),
        and_(AuditEvent.subject_type == "allocation", AuditEvent.subject_id.in_(allocations)),
    )).order_by(AuditEvent.seq)
    if not officer:
        q = q.where(AuditEvent.organisation_id == proposal.organisation_id)
    events = []
    for row in session.execute(q).scalars():
        actor, reason, data = rules.audit_event_for(principal, row.action, row.actor,
                                                    row.reason, row.data)
        events.append(AuditEventRead.model_validate(row).model_copy(
            update={"actor": actor, "reason": reason, "data": data}))
    return events


def review_view(principal: Principal, review: Review, organisation_id: int) -> ReviewRead:
    view = ReviewRead.model_validate(review)
    if review.reviewer_id == principal.user_id or rules.can_see_private_review_notes(
            principal, organisation_id):
        return view
    # Applicants see scores and the comments meant for them, not who reviewed or private notes.
    return view.model_copy(update={"reviewer_id": None, "private_comment": None,
                                   "conflict_reason": None})


def proposal_view(session: Session, principal: Principal, proposal: Proposal,
                  *, detail: bool = True) -> ProposalRead:
    view = ProposalRead.model_validate(proposal)
    if not detail:
        return view
    known = _known(session, proposal.id)
    if known is not None:
        # Neither a new draft nor a draft just submitted has reviews (they are assigned in
        # review, and nothing returns to draft).
        return view.model_copy(update={
            "checks": [CheckRead.model_validate(c) for c in known.checks],
            "reviews": [], "allocation_ids": list(known.allocation_ids)})
    last_attempt = select(func.max(CheckRun.attempt)).where(
        CheckRun.proposal_id == proposal.id).scalar_subquery()
    checks = session.execute(select(CheckRun).where(
        CheckRun.proposal_id == proposal.id, CheckRun.attempt == last_attempt)
        .order_by(CheckRun.id)).scalars()
    reviews = session.execute(select(Review).where(Review.proposal_id == proposal.id)
                              .order_by(Review.id)).scalars()
    officer = principal.has(Role.access_officer)
    member = principal.is_member(proposal.organisation_id)
    shown = [review_view(principal, r, proposal.organisation_id) for r in reviews
             if officer or r.reviewer_id == principal.user_id
             or (member and r.state is ReviewState.submitted)]
    allocation_ids = list(session.execute(select(Allocation.id).where(
        Allocation.proposal_id == proposal.id).order_by(Allocation.id)).scalars())
    return view.model_copy(update={
        "checks": [CheckRead.model_validate(c) for c in checks],
        "reviews": shown, "allocation_ids": allocation_ids})


# --- drafting ----------------------------------------------------------------------------------


def create_proposal(session: Session, principal: Principal, data: ProposalCreate,
                    *, config: AccessConfig, now: datetime | None = None) -> Proposal:
    """Draft a proposal for one of the principal's organisations.

    Raises: NotFound (organisation not visible), Forbidden, ValidationFailed (unknown mode),
    PolicyRefusal (a direct mode, which only access officers use).
    """
    org = session.get(Organisation, data.organisation_id)
    if org is None or not (principal.is_member(org.id) or principal.has(Role.access_officer)):
        raise NotFound(f"organisation {data.organisation_id} not found")
    _forbid(rules.is_applicant_of(principal, org.id),
            "only members of the organisation may apply on its behalf")
    mode = config.mode(data.mode)
    if mode.initiated_by != "applicant":
        raise PolicyRefusal(f"{mode.label} is allocated directly by an access officer; it "
                            "cannot be applied for", rule=f"access mode {mode.id}: initiated_by")
    assert principal.user_id is not None
    proposal = Proposal(**data.model_dump(exclude=FOLLOW_UPS), created_by_id=principal.user_id,
                        state=S.draft,
                        created_at=now or utcnow())
    session.add(proposal)
    session.flush()
    record(session, principal, "proposal.drafted", subject_type="proposal",
           subject_id=proposal.id, organisation_id=org.id, to_state=S.draft.value,
           data={"mode": mode.id, "gpu_hours": data.gpu_hours})
    _know(session, proposal, [], [])
    _hold(session, org)  # submitting in the same transaction reads it again
    return proposal


def update_proposal(session: Session, principal: Principal, proposal_id: int,
                    data: ProposalUpdate, *, config: AccessConfig) -> Proposal:
    """Change a draft. Raises: NotFound, Forbidden, InvalidTransition (no longer a draft)."""
    proposal = get_proposal(session, principal, proposal_id, for_update=True)
    _forbid(rules.can_edit_proposal(principal, proposal.organisation_id),
            "only members of the organisation may change its proposals")
    if proposal.state is not S.draft:
        raise Conflict(f"only a draft can be changed; this proposal is {proposal.state.value}")
    changes = data.model_dump(exclude_unset=True)
    if "mode" in changes:
        mode = config.mode(changes["mode"])
        if mode.initiated_by != "applicant":
            raise PolicyRefusal(f"{mode.label} cannot be applied for",
                                rule=f"access mode {mode.id}: initiated_by")
    merged = {**ProposalUpdate.model_validate(
        {k: getattr(proposal, k) for k in ProposalUpdate.model_fields}).model_dump(), **changes}
    if (merged["ethics_commitment"] is None) != (merged["ethics_signed_by"] is None):
        raise ValidationFailed("an ethics commitment and the name of who signed it go together")
    for key, value in changes.items():
        setattr(proposal, key, value)
    record(session, principal, "proposal.edited", subject_type="proposal",
           subject_id=proposal.id, organisation_id=proposal.organisation_id,
           data=data.model_dump(mode="json", exclude_unset=True))
    return proposal


# --- submission and admission checks ---------------------------------------------------------


def _reference(proposal: Proposal, mode: AccessMode, now: datetime) -> str:
    return f"FAB-{now.year}{mode.code}-{proposal.id:06d}"


def _decision_due(mode: AccessMode, submitted_at: datetime, cutoff_at: datetime | None
                  ) -> datetime:
    target = mode.target_decision
    start = cutoff_at if target.counted_from == "cutoff" and cutoff_at else submitted_at
    if target.unit is TimeUnit.working_days:
        return pol.add_working_days(start, target.amount)
    step = {TimeUnit.minutes: timedelta(minutes=1), TimeUnit.hours: timedelta(hours=1),
            TimeUnit.calendar_days: timedelta(days=1)}[target.unit]
    return start + step * target.amount


def _context(session: Session, proposal: Proposal, mode: AccessMode, config: AccessConfig,
             now: datetime, ranked: Referral | None = None) -> CheckContext:
    org = session.get(Organisation, proposal.organisation_id)
    assert org is not None
    facts = pol.OrganisationFacts(
        kind=org.kind, country=org.country, founded_on=org.founded_on, headcount=org.headcount,
        turnover_eur=org.turnover_eur, balance_sheet_eur=org.balance_sheet_eur,
        public_control=org.public_control)
    return CheckContext(
        proposal=ProposalFacts(
            mode=mode.id, gpu_hours=proposal.gpu_hours, duration_months=proposal.duration_months,
            start_on=proposal.start_on, storage_tb=proposal.storage_tb,
            inference_share=proposal.inference_share, civilian_use=proposal.civilian_use,
            ethics_commitment=proposal.ethics_commitment,
            ethics_signed_by=proposal.ethics_signed_by),
        mode=mode,
        eligibility=pol.check_eligibility(org.country, config.policy.eligibility),
        classification=pol.classify_organisation(facts, config.policy.classification,
                                                 now.date()),
        organisation_vouched=org.vouched_at is not None,
        today=now.date(),
        extra={"referral": _referral(session, proposal, config, org.country, now,
                                     ranked=ranked),
               **{k: v for provide in config.context_providers
                  for k, v in provide(session, proposal).items()}},
    )


def _window(proposal: Proposal | ProposalCreate, now: datetime) -> tuple[date, date]:
    start = max(proposal.start_on, now.date())
    return start, pol.allocation_end(start, proposal.duration_months)


def _referral(session: Session, proposal: Proposal | ProposalCreate, config: AccessConfig,
              country: str, now: datetime, gpu_hours: int | None = None, *,
              ranked: Referral | None = None) -> Referral:
    """The factories ranked for the proposal against the capacity ledger (DESIGN §2.2);
    `ranked` as in referrals.rank."""
    start, end = _window(proposal, now)
    request = referrals.referral_request(
        config.federation, gpu_hours=gpu_hours or proposal.gpu_hours, start_on=start,
        end_on=end, country=country, sector=proposal.sector, gpu_model=proposal.gpu_model,
        gpu_memory_gb=proposal.gpu_memory_gb, datasets=proposal.datasets or (),
        languages=proposal.languages or ())
    return referrals.rank(session, config.federation, request, ranked=ranked)


def rank_ahead(session: Session, principal: Principal, data: ProposalCreate, *,
               config: AccessConfig, now: datetime | None = None) -> Referral | None:
    """The referral that submitting `data` will rank, ranked now in a read-only transaction.

    A submission passes it to `submit_proposal`, which uses it if nothing it depends on changed
    meanwhile: ranking is most of a submission's work, and on SQLite the write transaction holds
    the database's only write lock. None when `data` is for an organisation the principal does
    not apply for (the write transaction refuses that with its own error).
    """
    return _rank_ahead(session, principal, data, data.organisation_id, config, now)


def rank_ahead_of(session: Session, principal: Principal, proposal_id: int, *,
                  config: AccessConfig, now: datetime | None = None) -> Referral | None:
    """`rank_ahead` for a stored draft about to be submitted (None if it is not visible)."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None or proposal.state is not S.draft:
        return None
    return _rank_ahead(session, principal, proposal, proposal.organisation_id, config, now)


def _rank_ahead(session: Session, principal: Principal, facts: Proposal | ProposalCreate,
                organisation_id: int, config: AccessConfig, now: datetime | None
                ) -> Referral | None:
    org = session.get(Organisation, organisation_id)
    if org is None or not rules.is_applicant_of(principal, org.id):
        return None
    return _referral(session, facts, config, org.country, now or utcnow())


def proposal_referral(session: Session, principal: Principal, proposal_id: int, *,
                      config: AccessConfig, now: datetime | None = None) -> Referral:
    """The factories ranked for a proposal, with every term explained (DESIGN §2.2).

    Visible to whoever may see the proposal. Raises: NotFound.
    """
    proposal = get_proposal(session, principal, proposal_id)
    org = session.get(Organisation, proposal.organisation_id)
    assert org is not None
    granted = proposal.gpu_hours_granted if proposal.state in S.accepted_states() else None
    return _referral(session, proposal, config, org.country, now or utcnow(), granted)


def _run_checks(session: Session, proposal: Proposal, mode: AccessMode, config: AccessConfig,
                now: datetime, ctx: CheckContext | None = None) -> list[StoredCheck]:
    ctx = ctx or _context(session, proposal, mode, config, now)
    known = _known(session, proposal.id)
    earlier = (max((c.attempt for c in known.checks), default=0) if known is not None else
               session.execute(select(func.max(CheckRun.attempt)).where(
                   CheckRun.proposal_id == proposal.id)).scalar() or 0)
    results = [StoredCheck(proposal.id, earlier + 1, r.check, r.passed, r.rule, r.message, now)
               for r in (check(ctx) for check in config.checks)]
    # One executemany of the table, not one ORM INSERT ... RETURNING per row: nothing needs
    # the rows' ids.
    session.connection().execute(insert(CheckRun.__table__), [r._asdict() for r in results])
    return results


def submit_proposal(session: Session, principal: Principal, proposal_id: int,
                    *, config: AccessConfig, now: datetime | None = None,
                    ranked: Referral | None = None) -> Proposal:
    """Submit a draft and run the admission checks.

    Steps: draft → submitted; run every admission check and store the results; a failed check
    rejects with its rule and reason; else an automatic mode is accepted (with its allocation),
    a cut-off mode waits for its cut-off, a review mode goes into review.
    `ranked`: the referral from `rank_ahead`, if the caller ranked before this transaction.
    Raises: NotFound, Forbidden, InvalidTransition.
    """
    now = now or utcnow()
    proposal = get_proposal(session, principal, proposal_id, for_update=True)
    _forbid(rules.can_edit_proposal(principal, proposal.organisation_id),
            "only members of the organisation may submit its proposals")
    mode = config.mode(proposal.mode)
    _transition(session, principal, proposal, S.submitted)
    proposal.submitted_at = now
    proposal.reference = _reference(proposal, mode, now)
    proposal.policy_versions = config.versions()
    # The checks read the organisation and earlier attempts, nothing pending here: write the
    # proposal once, with its outcome, instead of once before and once after them.
    with session.no_autoflush:
        runs, allocation_id = _admit(session, proposal, mode, config, now, ranked)
    # It was a draft: no earlier checks, reviews or allocations (see proposal_view).
    _know(session, proposal, runs, [allocation_id] if allocation_id is not None else [])
    return proposal


def _admit(session: Session, proposal: Proposal, mode: AccessMode, config: AccessConfig,
           now: datetime, ranked: Referral | None = None
           ) -> tuple[list[StoredCheck], int | None]:
    ctx = _context(session, proposal, mode, config, now, ranked)
    runs = _run_checks(session, proposal, mode, config, now, ctx)
    failed = [r for r in runs if not r.passed]
    if failed:
        reasons = "; ".join(f"{r.check}: {r.message} [{r.rule}]" for r in failed)
        _reject(session, SYSTEM, proposal, reasons, now)
        return runs, None
    allocation_id = None
    if mode.procedure.kind is ProcedureKind.automatic:
        proposal.decision_due_at = now
        try:
            allocation_id = _accept(
                session, SYSTEM, proposal, mode, config, proposal.gpu_hours,
                "all admission checks passed; decided automatically", now,
                referral=ctx.extra["referral"])
        except PolicyRefusal as exc:  # a concurrent acceptance took the room the check saw
            _reject(session, SYSTEM, proposal,
                    f"capacity (re-checked under lock at acceptance): {exc.detail}", now)
            return runs, None
    elif mode.cutoffs is not None:
        proposal.cutoff_at = pol.next_cutoff(mode.cutoffs, now)
        proposal.decision_due_at = _decision_due(mode, now, proposal.cutoff_at)
        record(session, SYSTEM, "proposal.held-for-cutoff", subject_type="proposal",
               subject_id=proposal.id, organisation_id=proposal.organisation_id,
               data={"cutoff_at": proposal.cutoff_at.isoformat()})
    else:
        proposal.decision_due_at = _decision_due(mode, now, None)
        _transition(session, SYSTEM, proposal, S.in_review,
                    reason="admission checks passed; waiting for review")
    return runs, allocation_id


def release_cutoff(session: Session, principal: Principal, mode_id: str, *, config: AccessConfig,
                   now: datetime | None = None) -> list[Proposal]:
    """Open review for every proposal of `mode_id` whose cut-off has passed. Safe to repeat."""
    _forbid(principal is SYSTEM or rules.can_decide(principal),
            "only access officers release cut-offs")
    now = now or utcnow()
    config.mode(mode_id)
    due = list(session.execute(
        select(Proposal).where(Proposal.mode == mode_id, Proposal.state == S.submitted,
                               Proposal.cutoff_at <= now).order_by(Proposal.id).with_for_update()
    ).scalars())
    for proposal in due:
        _transition(session, principal, proposal, S.in_review,
                    reason=f"cut-off of {proposal.cutoff_at:%Y-%m-%d %H:%M} UTC passed")
    return due


# --- reviews -----------------------------------------------------------------------------------


def assign_reviewer(session: Session, principal: Principal, proposal_id: int, *,
                    reviewer_id: int, kind: ReviewKind, config: AccessConfig) -> Review:
    """An access officer assigns a reviewer. Raises: Forbidden, NotFound, Conflict, PolicyRefusal.
    """
    _forbid(rules.can_decide(principal), "only access officers assign reviewers")
    proposal = get_proposal(session, principal, proposal_id, for_update=True)
    if proposal.state not in (S.submitted, S.in_review, S.appealed):
        raise Conflict(f"reviewers can only be assigned to a proposal under consideration; "
                       f"this one is {proposal.state.value}")
    mode = config.mode(proposal.mode)
    if kind not in {r.kind for r in mode.procedure.reviews}:
        raise ValidationFailed(f"{mode.label} takes no {kind.value} review")
    reviewer = session.get(User, reviewer_id)
    if reviewer is None:
        raise NotFound(f"user {reviewer_id} not found")
    is_reviewer = session.execute(select(UserRole.id).where(
        UserRole.user_id == reviewer_id, UserRole.role == Role.reviewer)).first()
    if not is_reviewer:
        raise ValidationFailed(f"{reviewer.email} does not hold the reviewer role")
    if session.execute(select(Membership.id).where(
            Membership.user_id == reviewer_id,
            Membership.organisation_id == proposal.organisation_id)).first():
        raise PolicyRefusal(f"{reviewer.email} belongs to the applicant organisation and may not "
                            "review its proposal", rule="conflict of interest: own organisation")
    if session.execute(select(Review.id).where(Review.proposal_id == proposal.id,
                                               Review.reviewer_id == reviewer_id)).first():
        raise Conflict(f"{reviewer.email} is already assigned to this proposal")
    review = Review(proposal_id=proposal.id, reviewer_id=reviewer_id, kind=kind,
                    state=ReviewState.assigned)
    session.add(review)
    session.flush()
    record(session, principal, "review.assigned", subject_type="proposal", subject_id=proposal.id,
           organisation_id=proposal.organisation_id,
           data={"review_id": review.id, "reviewer_id": reviewer_id, "kind": kind.value})
    return review


def _own_review(session: Session, principal: Principal, review_id: int) -> tuple[Review, Proposal]:
    review = session.get(Review, review_id)
    if review is None or review.reviewer_id != principal.user_id:
        raise NotFound(f"review {review_id} not found")
    proposal = session.get(Proposal, review.proposal_id)
    assert proposal is not None
    return review, proposal


def get_my_review(session: Session, principal: Principal, review_id: int) -> Review:
    """One of the principal's own review assignments. Raises: NotFound (anyone else's)."""
    return _own_review(session, principal, review_id)[0]


def list_my_reviews(session: Session, principal: Principal) -> list[Review]:
    return list(session.execute(select(Review).where(
        Review.reviewer_id == principal.user_id, Review.state != ReviewState.conflict)
        .order_by(Review.id)).scalars())


def declare_conflict(session: Session, principal: Principal, review_id: int, *, reason: str
                     ) -> Review:
    """A reviewer declares a conflict of interest; from then on they no longer see the proposal.
    """
    review, proposal = _own_review(session, principal, review_id)
    if review.state is not ReviewState.assigned:
        raise Conflict(f"this review is already {review.state.value}")
    review.state, review.conflict_reason = ReviewState.conflict, reason
    record(session, principal, "review.conflict-declared", subject_type="proposal",
           subject_id=proposal.id, organisation_id=proposal.organisation_id, reason=reason,
           data={"review_id": review.id})
    return review


def submit_review(session: Session, principal: Principal, review_id: int, data: ReviewSubmit,
                  *, config: AccessConfig, now: datetime | None = None) -> Review:
    """Score every criterion of the review's kind. Raises: NotFound, Conflict, ValidationFailed."""
    review, proposal = _own_review(session, principal, review_id)
    if review.state is not ReviewState.assigned:
        raise Conflict(f"this review is already {review.state.value}")
    # Assignment refuses reviewers of the applicant organisation; one who joined it since
    # (or lost the reviewer role) may not score it either.
    _forbid(rules.can_review_for(principal, proposal.organisation_id),
            "a reviewer may not review a proposal of their own organisation; declare the "
            "conflict of interest instead")
    if proposal.state is not S.in_review:
        raise Conflict(f"the proposal is {proposal.state.value}, not in review")
    mode = config.mode(proposal.mode)
    requirement = next(r for r in mode.procedure.reviews if r.kind is review.kind)
    weights = {c.id: c.weight for c in requirement.criteria}
    low, high = mode.procedure.score_scale
    problems = [f"unknown criterion {c!r}" for c in data.scores if c not in weights]
    problems += [f"criterion {c!r} is not scored" for c in weights if c not in data.scores]
    problems += [f"{c}: {s} is outside {low}..{high}" for c, s in data.scores.items()
                 if not low <= s <= high]
    if problems:
        raise ValidationFailed("; ".join(problems), criteria=sorted(weights))
    review.scores = dict(data.scores)
    review.weighted_score = pol.weighted_score(data.scores, weights)
    review.comment_to_applicant = data.comment_to_applicant
    review.private_comment = data.private_comment
    review.state, review.submitted_at = ReviewState.submitted, now or utcnow()
    record(session, principal, "review.submitted", subject_type="proposal",
           subject_id=proposal.id, organisation_id=proposal.organisation_id,
           data={"review_id": review.id, "weighted_score": review.weighted_score})
    return review


# --- decisions and allocations -----------------------------------------------------------------


def _accept(session: Session, actor: Principal, proposal: Proposal, mode: AccessMode,
            config: AccessConfig, gpu_hours: int, reasons: str, now: datetime, *,
            factory: str | None = None, partition: str | None = None,
            override_reason: str | None = None, referral: Referral | None = None
            ) -> int:
    """Accept and allocate: the referral's first choice (or the officer's, with a reason) as
    home site, its capacity taken under lock; further eligible sites valid without capacity.
    Returns the allocation's id."""
    reduced = gpu_hours < proposal.gpu_hours
    if referral is None or referral.request.gpu_hours != gpu_hours:
        org = session.get(Organisation, proposal.organisation_id)
        assert org is not None
        referral = _referral(session, proposal, config, org.country, now, gpu_hours)
    start, end = referral.request.start_on, referral.request.end_on
    # The allocation is written before the capacity is taken: on PostgreSQL the partition's
    # ledger rows stay locked from the take until COMMIT, and every acceptance on that
    # partition waits for them, so as little as possible happens after the take.
    home = referrals.first_choice(referral, gpu_hours, factory=factory, partition=partition,
                                  override_reason=override_reason)
    state = AllocationState.active if start <= now.date() else AllocationState.scheduled
    # Core statements, not an ORM object: nothing in this transaction reads the allocation
    # back, and an ORM flush here (it also wrote the proposal twice) was a tenth of a
    # submission's CPU, spent inside the write lock.
    connection = session.connection()
    allocation_id = connection.execute(_INSERT_ALLOCATION, {
        "proposal_id": proposal.id, "organisation_id": proposal.organisation_id,
        "factory": home[0], "partition": home[1], "gpu_hours": gpu_hours,
        "gpu_hours_used": 0.0, "storage_tb": proposal.storage_tb, "start_on": start,
        "end_on": end, "priority_class": mode.priority_class, "state": state,
        "placement_reason": "", "created_at": now}).scalar_one()
    try:
        plan = referrals.plan_and_take(session, config.federation, referral, gpu_hours,
                                       factory=factory, partition=partition,
                                       override_reason=override_reason)
    except PolicyRefusal:  # every candidate filled up meanwhile: nothing was taken
        connection.execute(_DELETE_ALLOCATION, {"allocation_id": allocation_id})
        raise
    connection.execute(_PLACE_ALLOCATION, {"allocation_id": allocation_id,
                                           "home_factory": plan.home[0],
                                           "home_partition": plan.home[1],
                                           "reason": plan.reason})
    _transition(session, actor, proposal, S.accepted_reduced if reduced else S.accepted,
                reason=reasons, data={"gpu_hours_granted": gpu_hours})
    proposal.decision = DecisionOutcome.accept_reduced if reduced else DecisionOutcome.accept
    proposal.decision_reasons, proposal.decided_at = reasons, now
    proposal.gpu_hours_granted = gpu_hours
    referrals.record_sites(session, allocation_id, gpu_hours, start, plan)
    record(session, actor, "allocation.created", subject_type="allocation",
           subject_id=allocation_id, organisation_id=proposal.organisation_id,
           to_state=state.value,
           data={"proposal_id": proposal.id, "gpu_hours": gpu_hours, "factory": plan.home[0],
                 "partition": plan.home[1], "also_valid_at": [f"{f}/{p}" for f, p in plan.extra],
                 "start_on": start.isoformat(), "end_on": end.isoformat(),
                 "priority_class": mode.priority_class, "placement": plan.reason})
    if plan.overridden:
        top = referral.eligible[0] if referral.eligible else None
        record(session, actor, "allocation.referral-overridden", subject_type="allocation",
               subject_id=allocation_id, organisation_id=proposal.organisation_id,
               reason=override_reason or "",
               data={"referral_first_choice": f"{top.factory_id}/{top.partition_id}"
                     if top else None, "chosen": f"{plan.home[0]}/{plan.home[1]}"})
    return allocation_id


_ALLOCATIONS = Allocation.__table__
_INSERT_ALLOCATION = insert(_ALLOCATIONS).returning(_ALLOCATIONS.c.id)
_DELETE_ALLOCATION = delete(_ALLOCATIONS).where(_ALLOCATIONS.c.id == bindparam("allocation_id"))
_PLACE_ALLOCATION = (update(_ALLOCATIONS).where(_ALLOCATIONS.c.id == bindparam("allocation_id"))
                     .values(factory=bindparam("home_factory"),
                             partition=bindparam("home_partition"),
                             placement_reason=bindparam("reason")))


def _reject(session: Session, actor: Principal, proposal: Proposal, reasons: str,
            now: datetime) -> None:
    _transition(session, actor, proposal, S.rejected, reason=reasons)
    proposal.decision, proposal.decision_reasons = DecisionOutcome.reject, reasons
    proposal.decided_at = now


def decide_proposal(session: Session, principal: Principal, proposal_id: int, data: DecisionIn,
                    *, config: AccessConfig, now: datetime | None = None) -> Proposal:
    """An access officer accepts, accepts with less, or rejects a proposal in review.

    Raises: Forbidden, NotFound, InvalidTransition, Conflict (reviews missing), ValidationFailed.
    """
    _forbid(rules.can_decide(principal), "only access officers decide proposals")
    now = now or utcnow()
    proposal = get_proposal(session, principal, proposal_id, for_update=True)
    _forbid(not principal.is_member(proposal.organisation_id),
            "an access officer may not decide a proposal of their own organisation")
    mode = config.mode(proposal.mode)
    if proposal.state is not S.in_review:
        raise Conflict(f"only a proposal in review can be decided; this one is "
                       f"{proposal.state.value}")
    if data.outcome is not DecisionOutcome.reject:
        required = {r.kind.value: r.count for r in mode.procedure.reviews}
        submitted = dict(list(session.execute(
            select(Review.kind, func.count()).where(
                Review.proposal_id == proposal.id, Review.state == ReviewState.submitted)
            .group_by(Review.kind)).all()))
        missing = pol.missing_reviews(required, {k.value: n for k, n in submitted.items()})
        if missing and mode.procedure.decided_by is DecidedBy.access_officer:
            text = ", ".join(f"{n} {k}" for k, n in missing.items())
            raise Conflict(f"{mode.label} needs {text} review(s) more before it can be accepted",
                           missing=missing)
    if data.outcome is DecisionOutcome.reject:
        _reject(session, principal, proposal, data.reasons, now)
        return proposal
    granted = data.gpu_hours_granted or proposal.gpu_hours
    if granted > proposal.gpu_hours:
        raise ValidationFailed(f"cannot grant {granted:,} GPU-hours; {proposal.gpu_hours:,} "
                               "were requested")
    if data.outcome is DecisionOutcome.accept_reduced and granted == proposal.gpu_hours:
        raise ValidationFailed("accepting with less must grant fewer GPU-hours than requested")
    _accept(session, principal, proposal, mode, config, granted, data.reasons, now,
            factory=data.factory, partition=data.partition, override_reason=data.override_reason)
    return proposal


def withdraw_proposal(session: Session, principal: Principal, proposal_id: int, *, reason: str
                      ) -> Proposal:
    """The applicant withdraws. Raises: NotFound, Forbidden, InvalidTransition."""
    proposal = get_proposal(session, principal, proposal_id, for_update=True)
    _forbid(rules.can_edit_proposal(principal, proposal.organisation_id),
            "only members of the organisation may withdraw its proposals")
    _transition(session, principal, proposal, S.withdrawn, reason=reason)
    return proposal


def appeal_proposal(session: Session, principal: Principal, proposal_id: int, *, reason: str,
                    now: datetime | None = None) -> Proposal:
    """The applicant appeals a rejection, once. Raises: NotFound, Forbidden, Conflict."""
    proposal = get_proposal(session, principal, proposal_id, for_update=True)
    _forbid(rules.can_edit_proposal(principal, proposal.organisation_id),
            "only members of the organisation may appeal")
    if proposal.appealed_at is not None:
        raise Conflict("this proposal was appealed once already; an appeal is allowed once")
    _transition(session, principal, proposal, S.appealed, reason=reason)
    proposal.appeal_reason, proposal.appealed_at = reason, now or utcnow()
    return proposal


def decide_appeal(session: Session, principal: Principal, proposal_id: int, *, reopen: bool,
                  reason: str, config: AccessConfig, now: datetime | None = None) -> Proposal:
    """An access officer reopens an appealed proposal for review, or upholds the rejection."""
    _forbid(rules.can_decide(principal), "only access officers decide appeals")
    proposal = get_proposal(session, principal, proposal_id, for_update=True)
    _forbid(not principal.is_member(proposal.organisation_id),
            "an access officer may not decide an appeal of their own organisation")
    if proposal.state is not S.appealed:
        raise Conflict(f"this proposal is {proposal.state.value}, not appealed")
    if reopen:
        _transition(session, principal, proposal, S.in_review, reason=reason)
        proposal.decision, proposal.decided_at = None, None
    else:
        _reject(session, principal, proposal, f"appeal dismissed: {reason}", now or utcnow())
    return proposal


def create_direct_allocation(session: Session, principal: Principal,
                             data: DirectAllocationCreate, *, config: AccessConfig,
                             now: datetime | None = None) -> Proposal:
    """Strategic or emergency allocation by an access officer, without a call.

    The same admission checks apply (eligibility, ethics, civilian use); if one fails nothing is
    written and PolicyRefusal names it. Raises: Forbidden, NotFound, ValidationFailed.
    """
    _forbid(rules.can_decide(principal), "only access officers make direct allocations")
    now = now or utcnow()
    mode = config.mode(data.mode)
    if mode.procedure.kind is not ProcedureKind.direct:
        raise ValidationFailed(f"{mode.label} is applied for, not allocated directly")
    org = session.get(Organisation, data.organisation_id)
    if org is None:
        raise NotFound(f"organisation {data.organisation_id} not found")
    _forbid(not principal.is_member(org.id),
            "an access officer may not allocate to their own organisation")
    assert principal.user_id is not None
    fields = data.model_dump(exclude={"reasons", "factory", "partition", "override_reason"})
    proposal = Proposal(**fields, created_by_id=principal.user_id, state=S.draft, created_at=now)
    session.add(proposal)
    session.flush()
    ctx = _context(session, proposal, mode, config, now)
    failed = [r for r in (c(ctx) for c in config.checks) if not r.passed]
    if failed:
        first = failed[0]
        raise PolicyRefusal("; ".join(f"{r.check}: {r.message}" for r in failed), rule=first.rule,
                            checks=[r.check for r in failed])
    record(session, principal, "proposal.drafted", subject_type="proposal",
           subject_id=proposal.id, organisation_id=org.id, to_state=S.draft.value,
           data={"mode": mode.id, "direct": True})
    _transition(session, principal, proposal, S.submitted, reason=data.reasons)
    proposal.submitted_at, proposal.reference = now, _reference(proposal, mode, now)
    proposal.policy_versions = config.versions()
    _run_checks(session, proposal, mode, config, now, ctx)
    proposal.decision_due_at = now
    _accept(session, principal, proposal, mode, config, proposal.gpu_hours, data.reasons, now,
            factory=data.factory, partition=data.partition,
            override_reason=data.override_reason, referral=ctx.extra["referral"])
    return proposal


def get_allocation(session: Session, principal: Principal, allocation_id: int) -> Allocation:
    allocation = session.get(Allocation, allocation_id)
    if allocation is None or not rules.can_see_allocation(principal, allocation.organisation_id):
        raise NotFound(f"allocation {allocation_id} not found")
    return allocation


def list_allocations(session: Session, principal: Principal, *,
                     organisation_id: int | None = None, after: int = 0, limit: int = 50
                     ) -> list[Allocation]:
    q = select(Allocation).where(Allocation.id > after).order_by(Allocation.id).limit(limit)
    if not (principal.has(Role.access_officer) or principal.has(Role.factory_operator)):
        q = q.where(Allocation.organisation_id.in_(principal.organisation_ids or {-1}))
    if organisation_id is not None:
        q = q.where(Allocation.organisation_id == organisation_id)
    return list(session.execute(q).scalars())


def move_allocation(session: Session, principal: Principal, allocation_id: int,
                    data: AllocationSitesIn, *, config: AccessConfig,
                    now: datetime | None = None) -> Allocation:
    """An access officer moves or splits what an allocation holds over factories.

    From today (or its start, if later) to its end; the capacity is released and retaken
    under lock, all or nothing. Raises: Forbidden, NotFound, Conflict, ValidationFailed,
    PolicyRefusal (no room at a new site).
    """
    now = now or utcnow()
    allocation = session.execute(select(Allocation).where(Allocation.id == allocation_id)
                                 .with_for_update()).scalar_one_or_none()
    if allocation is None or not rules.can_see_allocation(principal, allocation.organisation_id):
        raise NotFound(f"allocation {allocation_id} not found")
    _forbid(rules.can_decide(principal), "only access officers move allocations")
    _forbid(not principal.is_member(allocation.organisation_id),
            "an access officer may not move an allocation of their own organisation")
    if allocation.state not in (AllocationState.active, AllocationState.scheduled):
        raise Conflict(f"the allocation is {allocation.state.value}; only a scheduled or "
                       "active one can be moved")
    proposal = session.get(Proposal, allocation.proposal_id)
    org = session.get(Organisation, allocation.organisation_id)
    assert proposal is not None and org is not None
    from_on = max(now.date(), allocation.start_on)
    request = referrals.referral_request(
        config.federation, gpu_hours=allocation.gpu_hours, start_on=from_on,
        end_on=allocation.end_on, country=org.country, sector=proposal.sector,
        gpu_model=proposal.gpu_model, gpu_memory_gb=proposal.gpu_memory_gb,
        datasets=proposal.datasets or (), languages=proposal.languages or ())
    before, after = referrals.resplit(
        session, config.federation, allocation,
        [((x.factory, x.partition), x.gpu_hours) for x in data.sites], request, from_on)
    allocation.placement_reason = f"moved by an access officer: {data.reason}"
    record(session, principal, "allocation.sites-changed", subject_type="allocation",
           subject_id=allocation.id, organisation_id=allocation.organisation_id,
           reason=data.reason, data={"from_on": from_on.isoformat(), "before": before,
                                     "after": after})
    return allocation


def allocation_view(allocation: Allocation, sites: Sequence[AllocationSite] = ()
                    ) -> AllocationRead:
    return AllocationRead.model_validate(
        {**{k: getattr(allocation, k) for k in AllocationRead.model_fields
            if k not in ("gpu_hours_left", "sites")},
         "gpu_hours_left": max(allocation.gpu_hours - allocation.gpu_hours_used, 0.0),
         "sites": [AllocationSiteRead.model_validate(s) for s in sites]})


def allocation_views(session: Session, allocations: Sequence[Allocation]) -> list[AllocationRead]:
    """Views with their sites, read in one query."""
    by_allocation: dict[int, list[AllocationSite]] = {a.id: [] for a in allocations}
    if by_allocation:
        for site in session.execute(select(AllocationSite).where(
                AllocationSite.allocation_id.in_(by_allocation)).order_by(
                AllocationSite.home.desc(), AllocationSite.id)).scalars():
            by_allocation[site.allocation_id].append(site)
    return [allocation_view(a, by_allocation[a.id]) for a in allocations]


def allocation_for_charging(session: Session, principal: Principal, allocation_id: int
                            ) -> Allocation:
    """The allocation a member's job charges, locked so concurrent admissions serialise.

    Raises: NotFound (not visible), Forbidden (visible but not the principal's organisation).
    """
    allocation = session.execute(select(Allocation).where(Allocation.id == allocation_id)
                                 .with_for_update()).scalar_one_or_none()
    if allocation is None or not rules.can_see_allocation(principal, allocation.organisation_id):
        raise NotFound(f"allocation {allocation_id} not found")
    _forbid(principal.is_member(allocation.organisation_id),
            "only members of the organisation may run jobs on its allocation")
    return allocation


def priority_rank(config: AccessConfig, priority_class: str) -> int:
    return config.policy.modes.priority(priority_class).rank


def roll_allocation_states(session: Session, *, now: datetime | None = None
                           ) -> tuple[list[Allocation], list[Allocation]]:
    """Scheduled allocations whose start has come become active; past their end, ended.

    Run by the worker; safe to repeat. Returns (activated, ended).
    """
    today = (now or utcnow()).date()
    activated = list(session.execute(select(Allocation).where(
        Allocation.state == AllocationState.scheduled, Allocation.start_on <= today)
        .with_for_update(skip_locked=True)).scalars())
    ended = list(session.execute(select(Allocation).where(
        Allocation.state.in_((AllocationState.scheduled, AllocationState.active)),
        Allocation.end_on < today).with_for_update(skip_locked=True)).scalars())
    for allocation, target in [*((a, AllocationState.active) for a in activated
                                 if a.end_on >= today),
                               *((a, AllocationState.ended) for a in ended)]:
        previous, allocation.state = allocation.state, target
        record(session, SYSTEM, f"allocation.{target.value}", subject_type="allocation",
               subject_id=allocation.id, organisation_id=allocation.organisation_id,
               from_state=previous.value, to_state=target.value)
    return activated, ended
