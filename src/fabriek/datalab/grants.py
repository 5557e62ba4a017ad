"""Use cases of governed access: requests for a project, the steward's decision with reasons,
grants that expire by themselves or are revoked, and the sweep that records expiry.

Who sees what: a request or grant is visible to the members of its organisation and to the
stewards of its dataset, to nobody else. A steward who is a member of the requesting
organisation may not decide its request (nobody approves their own access).

Every function: load → authorise (404 before 403) → policy → change → audit. None commits.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabriek.access.enums import AllocationState, ProposalState
from fabriek.access.models import Allocation, Proposal
from fabriek.audit.service import record
from fabriek.datalab import access as rules
from fabriek.datalab.enums import AccessLevel, RequestState
from fabriek.datalab.models import AccessRequest, Dataset, DatasetSteward, Grant
from fabriek.datalab.schemas import (
    AccessRequestCreate,
    AccessRequestRead,
    Decision,
    GrantRead,
)
from fabriek.datalab.service import DatalabConfig, get_dataset, grant_facts, is_steward
from fabriek.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PolicyRefusal,
)
from fabriek.identity.enums import Role
from fabriek.identity.models import User
from fabriek.identity.principal import SYSTEM, Principal
from fabriek.kit.clock import utcnow

_CLOSED_PROPOSALS = (ProposalState.rejected, ProposalState.withdrawn)
_CLOSED_ALLOCATIONS = (AllocationState.ended, AllocationState.revoked)


def end_of_day(day: date) -> datetime:
    """A grant "until" a day lasts to the end of that day (UTC): expires at the next midnight."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def _stewarded(principal: Principal):  # type: ignore[no-untyped-def]
    return select(DatasetSteward.dataset_id).where(DatasetSteward.user_id == principal.user_id)


def _sees(session: Session, principal: Principal, organisation_id: int, dataset_id: int
          ) -> bool:
    return principal.is_member(organisation_id) or is_steward(session, principal, dataset_id)


# --- requests ----------------------------------------------------------------------------------


def _project(session: Session, principal: Principal, data: AccessRequestCreate
             ) -> tuple[int, int | None]:
    """(proposal id, allocation id or None) of the organisation, open for work."""
    if data.allocation_id is not None:
        allocation = session.get(Allocation, data.allocation_id)
        if allocation is None or allocation.organisation_id != data.organisation_id:
            raise NotFound(f"allocation {data.allocation_id} of organisation "
                           f"{data.organisation_id} not found")
        if allocation.state in _CLOSED_ALLOCATIONS:
            raise Conflict(f"allocation {allocation.id} is {allocation.state.value}")
        return allocation.proposal_id, allocation.id
    assert data.proposal_id is not None
    proposal = session.get(Proposal, data.proposal_id)
    if proposal is None or proposal.organisation_id != data.organisation_id:
        raise NotFound(f"proposal {data.proposal_id} of organisation "
                       f"{data.organisation_id} not found")
    if proposal.state in _CLOSED_PROPOSALS:
        raise Conflict(f"proposal {proposal.id} is {proposal.state.value}")
    return proposal.id, None


def create_request(session: Session, principal: Principal, slug: str,
                   data: AccessRequestCreate, *, cfg: DatalabConfig,
                   now: datetime | None = None) -> AccessRequest:
    """Ask for access to a dataset for a project of one's organisation.

    Raises: NotFound (dataset, organisation not one's own, project not the organisation's),
    BadRequest (expiry in the past or beyond the policy's maximum), PolicyRefusal (no permit
    reference for a permit-level dataset), Conflict (no request needed; one pending already).
    """
    now = now or utcnow()
    dataset = get_dataset(session, principal, slug)
    if not principal.is_member(data.organisation_id):
        raise NotFound(f"organisation {data.organisation_id} not found")
    if dataset.withdrawn_at is not None:
        raise Conflict(f"dataset {slug} is withdrawn")
    if not dataset.access_level.needs_grant:
        raise Conflict(f"dataset {slug} is {dataset.access_level.value}-level: no request is "
                       "needed to read it")
    if dataset.access_level is AccessLevel.permit and not data.permit_reference:
        raise PolicyRefusal(f"dataset {slug} is available only with a data permit: give the "
                            "permit's reference", rule="datalab.permit-required")
    today = now.astimezone(UTC).date()
    maximum = cfg.policy.grants.maximum_days
    if data.expires_on < today:
        raise BadRequest("expires_on is in the past")
    if data.expires_on > today + timedelta(days=maximum):
        raise BadRequest(f"expires_on is more than {maximum} days away (the policy's maximum)")
    proposal_id, allocation_id = _project(session, principal, data)
    duplicate = session.execute(select(AccessRequest.id).where(
        AccessRequest.dataset_id == dataset.id,
        AccessRequest.organisation_id == data.organisation_id,
        AccessRequest.proposal_id == proposal_id,
        AccessRequest.allocation_id.is_(None) if allocation_id is None
        else AccessRequest.allocation_id == allocation_id,
        AccessRequest.state == RequestState.pending)).first()
    if duplicate:
        raise Conflict(f"request {duplicate[0]} for this project is still pending")
    assert principal.user_id is not None
    row = AccessRequest(dataset_id=dataset.id, requester_id=principal.user_id,
                        organisation_id=data.organisation_id, proposal_id=proposal_id,
                        allocation_id=allocation_id, purpose=data.purpose,
                        requested_expiry=end_of_day(data.expires_on),
                        permit_reference=data.permit_reference, state=RequestState.pending,
                        created_at=now)
    session.add(row)
    session.flush()
    record(session, principal, "dataset.access-requested", subject_type="dataset-request",
           subject_id=row.id, organisation_id=row.organisation_id, to_state="pending",
           data={"dataset": dataset.slug, "proposal_id": proposal_id,
                 "allocation_id": allocation_id, "expires_on": data.expires_on.isoformat(),
                 "permit_reference": data.permit_reference})
    return row


_Row = TypeVar("_Row", AccessRequest, Grant)


def _visible(session: Session, principal: Principal, model: type[_Row], row_id: int,
             what: str, for_update: bool) -> _Row:
    """A request or grant this person may see (else NotFound, not Forbidden: its existence is
    not theirs to learn), locked when it is to be changed."""
    stmt = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalar()
    if row is None or not _sees(session, principal, row.organisation_id, row.dataset_id):
        raise NotFound(f"{what} {row_id} not found")
    return row  # type: ignore[no-any-return]


def get_request(session: Session, principal: Principal, request_id: int, *,
                for_update: bool = False) -> AccessRequest:
    return _visible(session, principal, AccessRequest, request_id, "access request",
                    for_update)


def list_requests(session: Session, principal: Principal, *, queue: bool = False,
                  state: RequestState | None = None, dataset: str | None = None,
                  after: int = 0, limit: int = 100) -> list[AccessRequest]:
    """Mine (my organisations' requests) or, with `queue`, those for the datasets I steward
    (pending ones unless another state is asked)."""
    stmt = select(AccessRequest).where(AccessRequest.id > after).order_by(
        AccessRequest.id).limit(limit)
    if queue:
        if not principal.has(Role.data_steward):
            raise Forbidden("the request queue is for data stewards")
        stmt = stmt.where(AccessRequest.dataset_id.in_(_stewarded(principal)))
        state = state or RequestState.pending
    else:
        stmt = stmt.where(AccessRequest.organisation_id.in_(sorted(principal.organisation_ids)))
    if state is not None:
        stmt = stmt.where(AccessRequest.state == state)
    if dataset is not None:
        stmt = stmt.join(Dataset, Dataset.id == AccessRequest.dataset_id).where(
            Dataset.slug == dataset)
    return list(session.execute(stmt).scalars())


def decide(session: Session, principal: Principal, request_id: int, decision: Decision, *,
           cfg: DatalabConfig, now: datetime | None = None) -> tuple[AccessRequest,
                                                                      Grant | None]:
    """Approve (a grant until the requested or a shorter day, never past the policy's
    maximum) or reject, with reasons. Raises: NotFound, Forbidden (not the dataset's
    steward, or a member of the requesting organisation), InvalidTransition (not pending),
    BadRequest (an expiry past the request's or the maximum)."""
    now = now or utcnow()
    row = get_request(session, principal, request_id, for_update=True)
    dataset = session.get(Dataset, row.dataset_id)
    assert dataset is not None
    if not is_steward(session, principal, dataset.id):
        raise Forbidden(f"only a data steward of dataset {dataset.slug} may decide")
    if principal.is_member(row.organisation_id):
        raise Forbidden("a steward who is a member of the requesting organisation may not "
                        "decide its request; another steward must")
    if row.state is not RequestState.pending:
        raise InvalidTransition(f"access request {row.id} is {row.state.value}, not pending")
    grant: Grant | None = None
    if decision.approve:
        maximum = now + timedelta(days=cfg.policy.grants.maximum_days)
        expires_at = row.requested_expiry
        if decision.expires_on is not None:
            expires_at = end_of_day(decision.expires_on)
            if expires_at > row.requested_expiry:
                raise BadRequest("a grant may not last longer than was requested")
        if expires_at <= now:
            raise BadRequest("the grant would already have expired; reject the request or "
                             "ask for a new one")
        expires_at = min(expires_at, maximum)
        grant = Grant(dataset_id=dataset.id, organisation_id=row.organisation_id,
                      proposal_id=row.proposal_id, allocation_id=row.allocation_id,
                      purpose=row.purpose, permit_reference=row.permit_reference,
                      request_id=row.id, granted_by_id=principal.user_id,
                      expires_at=expires_at, created_at=now)
        session.add(grant)
    before = row.state
    row.state = RequestState.approved if decision.approve else RequestState.rejected
    row.decided_by_id = principal.user_id
    row.decision_reasons = decision.reasons
    row.decided_at = now
    session.flush()
    record(session, principal, f"dataset.access-{row.state.value}",
           subject_type="dataset-request", subject_id=row.id,
           organisation_id=row.organisation_id, from_state=before.value,
           to_state=row.state.value, reason=decision.reasons,
           data={"dataset": dataset.slug, "grant_id": grant.id if grant else None,
                 "expires_at": grant.expires_at.isoformat() if grant else None})
    return row, grant


def withdraw(session: Session, principal: Principal, request_id: int, *, reason: str = "",
             now: datetime | None = None) -> AccessRequest:
    """The requester (or an admin of the organisation) withdraws a pending request."""
    row = get_request(session, principal, request_id, for_update=True)
    if not (principal.user_id == row.requester_id or principal.is_org_admin(row.organisation_id)):
        raise Forbidden("only the requester or an admin of the organisation may withdraw it")
    if row.state is not RequestState.pending:
        raise InvalidTransition(f"access request {row.id} is {row.state.value}, not pending")
    row.state = RequestState.withdrawn
    row.decided_at = now or utcnow()
    row.decision_reasons = reason
    session.flush()
    record(session, principal, "dataset.access-withdrawn", subject_type="dataset-request",
           subject_id=row.id, organisation_id=row.organisation_id, from_state="pending",
           to_state="withdrawn", reason=reason)
    return row


def request_view(session: Session, row: AccessRequest) -> AccessRequestRead:
    dataset = session.get(Dataset, row.dataset_id)
    requester = session.get(User, row.requester_id)
    grant_id = session.execute(select(Grant.id).where(Grant.request_id == row.id)).scalar()
    assert dataset is not None and requester is not None
    return AccessRequestRead(
        id=row.id, dataset=dataset.slug, dataset_id=dataset.id, requester_id=requester.id,
        requester=requester.email, organisation_id=row.organisation_id,
        proposal_id=row.proposal_id, allocation_id=row.allocation_id, purpose=row.purpose,
        requested_expiry=row.requested_expiry, permit_reference=row.permit_reference,
        state=row.state, decided_by_id=row.decided_by_id,
        decision_reasons=row.decision_reasons, decided_at=row.decided_at,
        created_at=row.created_at, grant_id=grant_id)


# --- grants ------------------------------------------------------------------------------------


def get_grant(session: Session, principal: Principal, grant_id: int, *,
              for_update: bool = False) -> Grant:
    return _visible(session, principal, Grant, grant_id, "grant", for_update)


def list_grants(session: Session, principal: Principal, *, stewarded: bool = False,
                dataset: str | None = None, valid_only: bool = False,
                now: datetime | None = None, after: int = 0, limit: int = 100) -> list[Grant]:
    """My organisations' grants or, with `stewarded`, the grants of datasets I steward."""
    now = now or utcnow()
    stmt = select(Grant).where(Grant.id > after).order_by(Grant.id).limit(limit)
    if stewarded:
        if not principal.has(Role.data_steward):
            raise Forbidden("only data stewards see the grants of their datasets")
        stmt = stmt.where(Grant.dataset_id.in_(_stewarded(principal)))
    else:
        stmt = stmt.where(Grant.organisation_id.in_(sorted(principal.organisation_ids)))
    if dataset is not None:
        stmt = stmt.join(Dataset, Dataset.id == Grant.dataset_id).where(Dataset.slug == dataset)
    if valid_only:
        stmt = stmt.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
    return list(session.execute(stmt).scalars())


def revoke(session: Session, principal: Principal, grant_id: int, *, reason: str,
           now: datetime | None = None) -> Grant:
    """A steward of the dataset ends a grant now, with a reason. Raises: NotFound,
    Forbidden, InvalidTransition (revoked already or expired)."""
    now = now or utcnow()
    grant = get_grant(session, principal, grant_id, for_update=True)
    dataset = session.get(Dataset, grant.dataset_id)
    assert dataset is not None
    if not is_steward(session, principal, dataset.id):
        raise Forbidden(f"only a data steward of dataset {dataset.slug} may revoke its grants")
    state = rules.grant_state(grant_facts(grant), now)
    if state is not rules.GrantState.valid:
        raise InvalidTransition(f"grant {grant.id} is {state.value} already")
    grant.revoked_at = now
    grant.revoked_by_id = principal.user_id
    grant.revoke_reason = reason
    session.flush()
    record(session, principal, "dataset.grant-revoked", subject_type="dataset-grant",
           subject_id=grant.id, organisation_id=grant.organisation_id, from_state="valid",
           to_state="revoked", reason=reason, data={"dataset": dataset.slug})
    return grant


def sweep_expired(session: Session, now: datetime | None = None, *, limit: int = 500) -> int:
    """Mark grants past their expiry as expired (and audit it). For the record only: a read
    checks `expires_at` itself, so nothing depends on this having run. Safe to repeat and to
    run in several processes at once (rows are locked, skipped when taken)."""
    now = now or utcnow()
    stmt = (select(Grant).where(Grant.expired_at.is_(None), Grant.revoked_at.is_(None),
                                Grant.expires_at <= now).order_by(Grant.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    grants = list(session.execute(stmt).scalars())
    for grant in grants:
        grant.expired_at = now
        record(session, SYSTEM, "dataset.grant-expired", subject_type="dataset-grant",
               subject_id=grant.id, organisation_id=grant.organisation_id, from_state="valid",
               to_state="expired", data={"expires_at": grant.expires_at.isoformat()})
    session.flush()
    return len(grants)


def grant_view(session: Session, grant: Grant, now: datetime | None = None) -> GrantRead:
    dataset = session.get(Dataset, grant.dataset_id)
    assert dataset is not None
    state = rules.grant_state(grant_facts(grant), now or utcnow())
    return GrantRead(id=grant.id, dataset=dataset.slug, dataset_id=dataset.id,
                     organisation_id=grant.organisation_id, proposal_id=grant.proposal_id,
                     allocation_id=grant.allocation_id, purpose=grant.purpose,
                     permit_reference=grant.permit_reference, request_id=grant.request_id,
                     granted_by_id=grant.granted_by_id, created_at=grant.created_at,
                     expires_at=grant.expires_at, revoked_at=grant.revoked_at,
                     revoke_reason=grant.revoke_reason, state=state.value)

