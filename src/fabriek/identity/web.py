"""Signing in through the portal: local passwords (argon2id), OpenID identities, browser
sessions and the rate limit on guessing. Never commits; the portal's routes do."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from fabriek.audit.service import record
from fabriek.errors import BadRequest, Conflict, FabriekError, Unauthenticated
from fabriek.identity.enums import Role
from fabriek.identity.models import (
    OidcFlow,
    SignInAttempt,
    User,
    UserIdentity,
    WebSession,
)
from fabriek.identity.principal import SYSTEM, Principal
from fabriek.identity.service import create_user, load_principal
from fabriek.kit.clock import utcnow

_hasher = PasswordHasher()  # argon2id with the library's current RFC 9106 defaults
MIN_PASSWORD = 12
# Verified against when the e-mail is unknown, so a wrong address costs as long as a wrong
# password and timing does not tell which addresses have accounts.
_DUMMY_HASH = _hasher.hash("not a password of anyone's")


class TooManyAttempts(FabriekError):
    status, code, title = 429, "too_many_attempts", "Too many attempts"


@dataclass(frozen=True)
class SignInLimits:
    failures_per_email: int = 5
    window: timedelta = timedelta(minutes=15)

    @property
    def failures_per_client(self) -> int:
        return self.failures_per_email * 4


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise BadRequest("a password may have at most 1024 characters")


def set_password(session: Session, actor: Principal, user: User, password: str) -> None:
    check_password_rules(password)
    user.password_hash = _hasher.hash(password)
    record(session, actor, "user.password-set", subject_type="user", subject_id=user.id)


def sign_up(session: Session, *, email: str, display_name: str, password: str) -> User:
    """A person registers themself: an applicant with a local password."""
    check_password_rules(password)
    user = create_user(session, SYSTEM, email=email, display_name=display_name,
                       roles=[Role.applicant])
    user.password_hash = _hasher.hash(password)
    return user


def _recent_failures(session: Session, column, value: str, since: datetime) -> int:  # type: ignore[no-untyped-def]
    return session.execute(select(func.count()).select_from(SignInAttempt).where(
        column == value, SignInAttempt.at >= since)).scalar_one()


def verify_password(session: Session, *, email: str, password: str, client: str,
                    limits: SignInLimits, now: datetime | None = None) -> User:
    """The person with this e-mail and password. Failures are counted per address and per
    client; past the limit every try is refused, right or wrong, until the window has passed.
    Raises: TooManyAttempts, Unauthenticated (one message for any wrong part)."""
    now = now or utcnow()
    email = email.strip().lower()
    since = now - limits.window
    if (_recent_failures(session, SignInAttempt.email, email, since) >= limits.failures_per_email
            or _recent_failures(session, SignInAttempt.client, client, since)
            >= limits.failures_per_client):
        minutes = round(limits.window.total_seconds() / 60)
        raise TooManyAttempts(f"too many failed sign-ins; try again in {minutes} minutes")
    user = session.execute(select(User).where(User.email == email)).scalar()
    stored = user.password_hash if user is not None and user.is_active else None
    try:
        ok = _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        session.add(SignInAttempt(email=email[:320], client=client[:64], at=now))
        raise Unauthenticated("wrong e-mail address or password")
    if _hasher.check_needs_rehash(stored):  # type: ignore[arg-type]
        user.password_hash = _hasher.hash(password)
    session.execute(delete(SignInAttempt).where(SignInAttempt.email == email))
    return user


def start_session(session: Session, user: User, *, method: str, hours: float,
                  now: datetime | None = None) -> str:
    """Open a browser session; returns the cookie's token (only its hash is stored)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=_sha(token), user_id=user.id, method=method,
                           expires_at=now + timedelta(hours=hours)))
    # Old rows of anyone are pruned here rather than by a scheduled task.
    session.execute(delete(WebSession).where(WebSession.expires_at < now - timedelta(days=7)))
    session.execute(delete(SignInAttempt).where(SignInAttempt.at < now - timedelta(days=1)))
    record(session, load_principal(session, user), "user.signed-in", subject_type="user",
           subject_id=user.id, data={"method": method})
    return token


def principal_for_session(session: Session, token: str, *, now: datetime | None = None
                          ) -> Principal | None:
    now = now or utcnow()
    row = session.execute(
        select(WebSession.user_id).join(User, User.id == WebSession.user_id).where(
            WebSession.token_hash == _sha(token), WebSession.ended_at.is_(None),
            WebSession.expires_at > now, User.is_active.is_(True))).first()
    if row is None:
        return None
    return load_principal(session, session.get(User, row.user_id))  # type: ignore[arg-type]


def end_session(session: Session, token: str, *, now: datetime | None = None) -> None:
    session.execute(update(WebSession).where(WebSession.token_hash == _sha(token),
                                             WebSession.ended_at.is_(None))
                    .values(ended_at=now or utcnow()))


# --- OpenID Connect ----------------------------------------------------------------------------

FLOW_LIFETIME = timedelta(minutes=10)


def remember_flow(session: Session, *, state: str, nonce: str, code_verifier: str,
                  return_to: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    session.execute(delete(OidcFlow).where(OidcFlow.created_at < now - FLOW_LIFETIME))
    session.add(OidcFlow(state_hash=_sha(state), nonce=nonce, code_verifier=code_verifier,
                         return_to=return_to, created_at=now))


@dataclass(frozen=True)
class Flow:
    nonce: str
    code_verifier: str
    return_to: str


def take_flow(session: Session, state: str, *, now: datetime | None = None) -> Flow:
    """The flow this state belongs to, removed so it cannot be replayed. One statement, so of
    two callbacks racing with the same state exactly one gets the flow."""
    now = now or utcnow()
    row = session.execute(
        delete(OidcFlow).where(OidcFlow.state_hash == _sha(state)).returning(
            OidcFlow.nonce, OidcFlow.code_verifier, OidcFlow.return_to, OidcFlow.created_at)
    ).first()
    if row is None or row.created_at < now - FLOW_LIFETIME:
        raise BadRequest("this sign-in link has expired or was already used; sign in again")
    return Flow(nonce=row.nonce, code_verifier=row.code_verifier, return_to=row.return_to)


def user_for_identity(session: Session, *, issuer: str, subject: str, email: str | None,
                      email_verified: bool, name: str) -> User:
    """The person signed in as (issuer, subject): known already, linked by a verified e-mail
    address the first time, or registered as a new applicant."""
    linked = session.execute(select(User).join(UserIdentity).where(
        UserIdentity.issuer == issuer, UserIdentity.subject == subject)).scalar()
    if linked is not None:
        if not linked.is_active:
            raise Unauthenticated("this account is disabled")
        return linked
    if not email:
        raise BadRequest("the identity provider did not tell us an e-mail address; allow the "
                         "'email' scope and sign in again")
    user = session.execute(select(User).where(User.email == email.strip().lower())).scalar()
    if user is not None and not email_verified:
        raise Conflict("an account with this e-mail address exists, and the identity provider "
                       "has not verified the address; sign in with a password instead")
    if user is None:
        user = create_user(session, SYSTEM, email=email, display_name=name,
                           roles=[Role.applicant])
    session.add(UserIdentity(user_id=user.id, issuer=issuer, subject=subject))
    record(session, SYSTEM, "user.identity-linked", subject_type="user", subject_id=user.id,
           data={"issuer": issuer, "subject": subject})
    return user
