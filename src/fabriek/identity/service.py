"""Use cases for people, tokens, organisations and memberships. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, bindparam, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fabriek.audit.service import record
from fabriek.errors import Conflict, Forbidden, NotFound
from fabriek.identity import rules
from fabriek.identity.enums import MembershipRole, Role
from fabriek.identity.models import ApiToken, Membership, Organisation, User, UserRole
from fabriek.identity.principal import Principal
from fabriek.identity.schemas import MembershipCreate, OrganisationCreate, OrganisationUpdate
from fabriek.identity.tokens import hash_token, new_token
from fabriek.kit.clock import utcnow


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise Forbidden(message)


# --- people and tokens -------------------------------------------------------------------------


def create_user(
    session: Session, actor: Principal, *, email: str, display_name: str = "",
    roles: list[Role] | None = None,
) -> User:
    """Create a person with global roles. Raises: Conflict if the e-mail is taken."""
    email = email.strip().lower()
    if session.execute(select(User.id).where(User.email == email)).first():
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(email=email, display_name=display_name)
    session.add(user)
    session.flush()
    for role in sorted(set(roles or [Role.applicant])):
        session.add(UserRole(user_id=user.id, role=role))
    record(session, actor, "user.created", subject_type="user", subject_id=user.id,
           data={"email": email, "roles": sorted(r.value for r in (roles or [Role.applicant]))})
    return user


def issue_token(
    session: Session, actor: Principal, user: User, *, name: str = "",
    expires_at: datetime | None = None,
) -> str:
    """Create an API token for `user`; returns the token, which is never stored in clear."""
    token = new_token()
    session.add(ApiToken(user_id=user.id, name=name, token_hash=hash_token(token),
                         prefix=token[:10], expires_at=expires_at))
    record(session, actor, "token.issued", subject_type="user", subject_id=user.id,
           data={"prefix": token[:10], "name": name})
    return token


def _principal_by_token() -> Select[Any]:
    roles = (select(func.aggregate_strings(cast(UserRole.role, String), ","))
             .where(UserRole.user_id == User.id).scalar_subquery())
    memberships = (select(func.aggregate_strings(
        cast(Membership.organisation_id, String).concat(":").concat(
            cast(Membership.role, String)), ","))
        .where(Membership.user_id == User.id).scalar_subquery())
    return (select(User.id, User.email, User.is_active, ApiToken.expires_at, ApiToken.revoked_at,
                   roles, memberships)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == bindparam("token_hash")))


# Built once: every request runs it, and a statement object keeps its cache key, while a new
# one is walked again each time to find its compiled form.
_PRINCIPAL_BY_TOKEN = _principal_by_token()


def principal_for_token(session: Session, token: str, *, now: datetime | None = None
                        ) -> Principal | None:
    """The person a token belongs to, or None if it is unknown, revoked, expired or inactive.

    One query on every request: the token, its user, and the user's roles and memberships as
    two aggregated strings (role values and organisation ids contain no ',' or ':').
    """
    now = now or utcnow()
    row = session.execute(_PRINCIPAL_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None:
        return None
    user_id, email, is_active, expires_at, revoked_at, role_list, membership_list = row
    if not is_active or revoked_at is not None or (expires_at and expires_at <= now):
        return None
    pairs = (m.split(":") for m in membership_list.split(",")) if membership_list else ()
    return Principal(
        user_id=user_id, email=email,
        roles=frozenset(Role(r) for r in role_list.split(",")) if role_list else frozenset(),
        memberships={int(org): MembershipRole(role) for org, role in pairs})


def load_principal(session: Session, user: User) -> Principal:
    roles = frozenset(session.execute(
        select(UserRole.role).where(UserRole.user_id == user.id)).scalars())
    memberships = dict(list(session.execute(
        select(Membership.organisation_id, Membership.role).where(Membership.user_id == user.id)
    ).all()))
    return Principal(user_id=user.id, email=user.email, roles=roles, memberships=memberships)


def user_by_email(session: Session, email: str) -> User:
    user = session.execute(select(User).where(User.email == email.strip().lower())).scalar()
    if user is None:
        raise NotFound(f"no user with e-mail {email}")
    return user


def roles_of(session: Session, user_id: int) -> list[Role]:
    return sorted(session.execute(
        select(UserRole.role).where(UserRole.user_id == user_id)).scalars())


def people_with_role(session: Session, principal: Principal, role: Role) -> list[User]:
    """Everyone holding a global role, by e-mail; for access officers (e.g. to pick reviewers).

    Raises: Forbidden.
    """
    _require(rules.can_manage_users(principal), "only access officers list people by role")
    return list(session.execute(select(User).join(UserRole, UserRole.user_id == User.id).where(
        UserRole.role == role, User.is_active.is_(True)).order_by(User.email)).scalars())


# --- organisations -----------------------------------------------------------------------------


def get_organisation(session: Session, principal: Principal, organisation_id: int) -> Organisation:
    """Raises: NotFound when it does not exist or the principal may not see it."""
    org = session.get(Organisation, organisation_id)
    if org is None or not rules.can_see_organisation(principal, organisation_id):
        raise NotFound(f"organisation {organisation_id} not found")
    return org


def organisation_names(session: Session, principal: Principal, ids: Iterable[int]
                       ) -> dict[int, str]:
    """Legal names of the organisations among `ids` that the principal may see, in one query."""
    visible = [i for i in set(ids) if rules.can_see_organisation(principal, i)]
    if not visible:
        return {}
    return dict(list(session.execute(select(Organisation.id, Organisation.legal_name).where(
        Organisation.id.in_(visible))).all()))


def list_organisations(session: Session, principal: Principal, *, after: int = 0, limit: int = 50
                       ) -> list[Organisation]:
    q = select(Organisation).where(Organisation.id > after).order_by(Organisation.id).limit(limit)
    if not principal.has(Role.access_officer):
        q = q.where(Organisation.id.in_(principal.organisation_ids or {-1}))
    return list(session.execute(q).scalars())


def register_organisation(
    session: Session, principal: Principal, data: OrganisationCreate, *, vouch: bool = False,
    now: datetime | None = None,
) -> Organisation:
    """Register an organisation; its creator becomes its admin and may vouch for its facts.

    Raises: Forbidden, Conflict (same registration id in the same country).
    """
    _require(rules.can_register_organisation(principal), "only applicants register organisations")
    assert principal.user_id is not None
    now = now or utcnow()
    exists = session.execute(select(Organisation.id).where(
        Organisation.country == data.country,
        Organisation.registration_id == data.registration_id)).first()
    if exists:
        raise Conflict(f"an organisation with registration id {data.registration_id} in "
                       f"{data.country} is already registered; ask its admin to add you")
    org = Organisation(**data.model_dump(), created_by_id=principal.user_id)
    if vouch:
        org.vouched_by_id, org.vouched_at = principal.user_id, now
    session.add(org)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same organisation
        raise Conflict("this organisation was registered at the same moment") from exc
    session.add(Membership(user_id=principal.user_id, organisation_id=org.id,
                           role=MembershipRole.admin))
    record(session, principal, "organisation.registered", subject_type="organisation",
           subject_id=org.id, organisation_id=org.id,
           data={**data.model_dump(mode="json"), "vouched": vouch})
    return org


def update_organisation(
    session: Session, principal: Principal, organisation_id: int, data: OrganisationUpdate
) -> Organisation:
    """Change facts; a change of facts withdraws the vouching until an admin vouches again."""
    org = get_organisation(session, principal, organisation_id)
    _require(rules.can_manage_organisation(principal, org.id),
             "only an admin of the organisation may change its facts")
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(org, key, value)
    if changes:
        org.vouched_by_id, org.vouched_at = None, None
    record(session, principal, "organisation.updated", subject_type="organisation",
           subject_id=org.id, organisation_id=org.id, data=data.model_dump(mode="json",
                                                                           exclude_unset=True))
    return org


def vouch_organisation(
    session: Session, principal: Principal, organisation_id: int, *, now: datetime | None = None
) -> Organisation:
    """An organisation admin vouches for the organisation's facts."""
    org = get_organisation(session, principal, organisation_id)
    _require(rules.can_manage_organisation(principal, org.id),
             "only an admin of the organisation may vouch for its facts")
    assert principal.user_id is not None
    org.vouched_by_id, org.vouched_at = principal.user_id, now or utcnow()
    record(session, principal, "organisation.vouched", subject_type="organisation",
           subject_id=org.id, organisation_id=org.id)
    return org


def add_member(
    session: Session, principal: Principal, organisation_id: int, data: MembershipCreate
) -> tuple[Membership, User]:
    """Raises: Forbidden, NotFound (no such person), Conflict (already a member)."""
    org = get_organisation(session, principal, organisation_id)
    _require(rules.can_manage_organisation(principal, org.id),
             "only an admin of the organisation may add members")
    user = user_by_email(session, data.email)
    if session.execute(select(Membership.id).where(
            Membership.user_id == user.id, Membership.organisation_id == org.id)).first():
        raise Conflict(f"{user.email} is already a member")
    membership = Membership(user_id=user.id, organisation_id=org.id, role=data.role)
    session.add(membership)
    session.flush()
    record(session, principal, "organisation.member-added", subject_type="organisation",
           subject_id=org.id, organisation_id=org.id,
           data={"user_id": user.id, "role": data.role.value})
    return membership, user


def list_members(session: Session, principal: Principal, organisation_id: int
                 ) -> list[tuple[Membership, User]]:
    get_organisation(session, principal, organisation_id)
    rows = session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.organisation_id == organisation_id).order_by(User.email)
    ).all()
    return list(rows)
