"""People, their API tokens and roles, organisations and memberships."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fabriek.db.base import Base, CreatedAtMixin, UTCDateTime, str_enum
from fabriek.identity.enums import MembershipRole, OrganisationKind, Role


class User(CreatedAtMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # argon2id, for the portal's local sign-in; None: signs in only with a token or OpenID.
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role))


class ApiToken(CreatedAtMixin, Base):
    """Only the SHA-256 of a token is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Organisation(CreatedAtMixin, Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2, of establishment
    registration_id: Mapped[str] = mapped_column(String(100))
    vat_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[OrganisationKind] = mapped_column(str_enum(OrganisationKind))
    founded_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    headcount: Mapped[int | None] = mapped_column(Integer, nullable=True)  # annual work units
    turnover_eur: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    balance_sheet_eur: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    public_control: Mapped[bool] = mapped_column(Boolean, default=False)  # Rec. 2003/361 3(4)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    vouched_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    vouched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (UniqueConstraint("country", "registration_id"),)


class Membership(CreatedAtMixin, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[MembershipRole] = mapped_column(str_enum(MembershipRole))


class UserIdentity(CreatedAtMixin, Base):
    """An OpenID Connect subject linked to a person: (issuer, sub) is the stable key."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))


class WebSession(CreatedAtMixin, Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    stolen database does not sign anyone in. Stored, not signed, so sign-out ends it at once in
    every process."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # password | oidc
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SignInAttempt(Base):
    """A failed sign-in, kept for a while to rate-limit guessing across all processes."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OidcFlow(Base):
    """An OpenID sign-in under way: the state (hashed), nonce and PKCE verifier, used once."""

    __tablename__ = "oidc_flows"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(200))
    return_to: Mapped[str] = mapped_column(String(500), default="/")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
