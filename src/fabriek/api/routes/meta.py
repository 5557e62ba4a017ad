"""Health, the signed-in person, people and tokens, policy and audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select, text

from fabriek import __version__
from fabriek.access import policy as pol
from fabriek.access import rules as access_rules
from fabriek.access.policy_files import AccessModesPolicy, EligibilityPolicy, is_country_code
from fabriek.api.deps import (
    Access,
    IdempotencyHeader,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    idempotent,
)
from fabriek.api.pagination import After, Limit, Page, page
from fabriek.audit.models import AuditEvent
from fabriek.audit.schemas import AuditEventRead, ChainReport
from fabriek.audit.service import verify_chain
from fabriek.errors import Forbidden, NotFound, ValidationFailed
from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.models import User
from fabriek.identity.schemas import EligibilityRead, TokenCreated, UserCreate, UserRead
from fabriek.kit.schemas import Health

router = APIRouter(prefix="/api/v1")


@router.get("/health", response_model=Health, tags=["meta"])
def health(session: ReadSession, access: Access) -> Health:
    session.execute(text("SELECT 1"))
    return Health(status="ok", version=__version__, database=session.bind.dialect.name,
                  policy_versions=access.policy.versions())


def _user_read(session, user: User) -> UserRead:  # type: ignore[no-untyped-def]
    principal = identity.load_principal(session, user)
    return UserRead(id=user.id, email=user.email, display_name=user.display_name,
                    roles=sorted(principal.roles), memberships=principal.memberships)


@router.get("/me", response_model=UserRead, tags=["people"])
def me(session: ReadSession, principal: Reader) -> UserRead:
    user = session.get(User, principal.user_id)
    assert user is not None
    return _user_read(session, user)


@router.post("/users", response_model=UserRead, status_code=201, tags=["people"])
def create_user(body: UserCreate, request: Request, session: WriteSession, principal: Writer,
                key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """An access officer creates a person with roles."""
    if not principal.has(Role.access_officer):
        raise Forbidden("only access officers create users")

    def produce() -> UserRead:
        user = identity.create_user(session, principal, email=body.email,
                                    display_name=body.display_name, roles=body.roles)
        return _user_read(session, user)

    return idempotent(request, session, principal, key, body, produce, 201)


@router.post("/users/{user_id}/tokens", response_model=TokenCreated, status_code=201,
             tags=["people"])
def create_token(user_id: int, request: Request, session: WriteSession, principal: Writer,
                 key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """A token for yourself, or (access officers) for another person. Shown once."""
    if user_id != principal.user_id and not principal.has(Role.access_officer):
        raise NotFound(f"user {user_id} not found")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")

    def produce() -> TokenCreated:
        token = identity.issue_token(session, principal, user)
        return TokenCreated(token=token, prefix=token[:10], user=_user_read(session, user))

    return idempotent(request, session, principal, key, {"user_id": user_id}, produce, 201)


@router.get("/eligibility/{country}", response_model=EligibilityRead, tags=["policy"])
def eligibility(country: str, access: Access) -> EligibilityRead:
    """Is an organisation established in this country eligible? (public)"""
    code = country.strip().upper()
    if not is_country_code(code):
        raise ValidationFailed(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    e = pol.check_eligibility(code, access.policy.eligibility)
    return EligibilityRead(eligible=e.eligible, country=e.country, groups=list(e.groups),
                           reason=e.reason)


@router.get("/policy/access-modes", response_model=AccessModesPolicy, tags=["policy"])
def access_modes(access: Access) -> AccessModesPolicy:
    """The access modes in force, as in the versioned policy file (public)."""
    return access.policy.modes


@router.get("/policy/eligibility", response_model=EligibilityPolicy, tags=["policy"])
def eligibility_policy(access: Access) -> EligibilityPolicy:
    """Where an organisation must be established, with sources (public)."""
    return access.policy.eligibility


@router.get("/audit", response_model=Page[AuditEventRead], tags=["audit"])
def audit_events(
    session: ReadSession, principal: Reader, limit: Limit = 50, after: After = 0,
    subject_type: Annotated[str | None, Query(max_length=32)] = None,
    subject_id: int | None = None,
) -> Page[AuditEventRead]:
    """Audit events: everything for access officers; members see their organisations' events."""
    q = select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit)
    if not principal.has(Role.access_officer):
        q = q.where(AuditEvent.organisation_id.in_(principal.organisation_ids or {-1}))
    if subject_type is not None:
        q = q.where(AuditEvent.subject_type == subject_type)
    if subject_id is not None:
        q = q.where(AuditEvent.subject_id == subject_id)
    rows = list(session.execute(q).scalars())
    items = []
    for r in rows:
        actor, reason, data = access_rules.audit_event_for(principal, r.action, r.actor,
                                                           r.reason, r.data)
        items.append(AuditEventRead.model_validate(r).model_copy(
            update={"actor": actor, "reason": reason, "data": data}))
    return page(items, [r.seq for r in rows], limit)


@router.get("/audit/verify", response_model=ChainReport, tags=["audit"])
def audit_verify(session: ReadSession, principal: Reader) -> ChainReport:
    if not principal.has(Role.access_officer):
        raise Forbidden("only access officers verify the audit chain")
    return verify_chain(session)
