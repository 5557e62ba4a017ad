"""API shapes for people, tokens, organisations and memberships."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from fabriek.identity.enums import MembershipRole, OrganisationKind, Role
from fabriek.kit.text import text

DisplayName = text(max_length=200)
LegalName = text(min_length=2, max_length=300)
CountryCode = text(to_upper=True, min_length=2, max_length=2)
RegistrationId = text(min_length=1, max_length=100)
VatId = text(max_length=32)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserCreate(_In):
    email: EmailStr
    display_name: DisplayName = ""
    roles: list[Role] = Field(default_factory=list)


class UserRead(_Out):
    id: int
    email: str
    display_name: str
    roles: list[Role]
    memberships: dict[int, MembershipRole] = Field(default_factory=dict)


class TokenCreated(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored.")
    prefix: str
    user: UserRead


class OrganisationCreate(_In):
    legal_name: LegalName
    country: CountryCode = Field(
        description="ISO 3166-1 alpha-2 code of the country where it is established.")
    registration_id: RegistrationId
    vat_id: VatId | None = None
    kind: OrganisationKind
    founded_on: date | None = None
    headcount: int | None = Field(default=None, ge=0, le=10_000_000,
                                  description="Staff in annual work units.")
    turnover_eur: Decimal | None = Field(default=None, ge=0, le=Decimal("1e13"))
    balance_sheet_eur: Decimal | None = Field(default=None, ge=0, le=Decimal("1e13"))
    public_control: bool = Field(
        default=False, description="25 % or more held by public bodies (Rec. 2003/361 Art. 3(4)).")

    @field_validator("country")
    @classmethod
    def _iso(cls, v: str) -> str:
        from fabriek.access.policy_files import is_country_code

        if not is_country_code(v):
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code")
        return v

    @field_validator("founded_on")
    @classmethod
    def _not_future(cls, v: date | None) -> date | None:
        if v is not None and v > date.today():
            raise ValueError("the founding date cannot be in the future")
        return v


class OrganisationUpdate(_In):
    legal_name: LegalName | None = None
    vat_id: VatId | None = None
    founded_on: date | None = None
    headcount: int | None = Field(default=None, ge=0, le=10_000_000)
    turnover_eur: Decimal | None = Field(default=None, ge=0, le=Decimal("1e13"))
    balance_sheet_eur: Decimal | None = Field(default=None, ge=0, le=Decimal("1e13"))
    public_control: bool | None = None


class ClassificationRead(BaseModel):
    size_class: str
    categories: list[str]
    reasons: list[str]


class EligibilityRead(BaseModel):
    eligible: bool
    country: str
    groups: list[str]
    reason: str


class OrganisationRead(_Out):
    id: int
    legal_name: str
    country: str
    registration_id: str
    vat_id: str | None
    kind: OrganisationKind
    founded_on: date | None
    headcount: int | None
    turnover_eur: Decimal | None
    balance_sheet_eur: Decimal | None
    public_control: bool
    vouched_at: datetime | None
    created_at: datetime
    classification: ClassificationRead
    eligibility: EligibilityRead


class MembershipCreate(_In):
    email: EmailStr
    role: MembershipRole = MembershipRole.member


class MembershipRead(_Out):
    user_id: int
    email: str
    role: MembershipRole
