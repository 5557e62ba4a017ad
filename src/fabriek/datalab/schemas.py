"""Request and response shapes of the data-lab API, shared by the client and the CLI.

The shapes check form (lengths, patterns, languages, countries); what the policy allows (data
spaces, themes, licences) is checked by the service against the loaded policy file.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

from fabriek.access.policy_files import is_country_code
from fabriek.compute.spec import NAME
from fabriek.datalab.enums import AccessLevel, ReadAction, RequestState
from fabriek.kit.text import text

_LANG = re.compile(r"^[a-z]{2}$")
# "EU" for data about the Union as a whole (the EU country table's EUR); else ISO 3166-1.
EU_WIDE = "EU"

Slug = Annotated[str, StringConstraints(pattern=NAME)]
Keyword = text(min_length=1, max_length=100)
ThemeCode = Annotated[str, StringConstraints(pattern=r"^[A-Z_]{2,20}$")]


def _languages(required: bool, max_length: int):  # type: ignore[no-untyped-def]
    def check(value: dict[str, str]) -> dict[str, str]:
        if required and not value.get("en", "").strip():
            raise ValueError("an English text ('en') is required")
        out: dict[str, str] = {}
        for lang, body in value.items():
            if not _LANG.match(lang):
                raise ValueError(f"language {lang!r}: a two-letter ISO 639-1 code")
            body = body.strip()
            if not body:
                raise ValueError(f"the {lang!r} text is empty")
            if len(body) > max_length:
                raise ValueError(f"the {lang!r} text is longer than {max_length} characters")
            for ch in body:
                if ord(ch) < 32 and ch not in "\n\r\t":
                    raise ValueError(f"control character U+{ord(ch):04X} is not allowed")
            out[lang] = body
        return out
    return AfterValidator(check)


Titles = Annotated[dict[str, str], Field(max_length=24), _languages(True, 300)]
Descriptions = Annotated[dict[str, str], Field(max_length=24), _languages(True, 10_000)]


def _country(code: str) -> str:
    code = code.strip().upper()
    if code != EU_WIDE and not is_country_code(code):
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (or EU)")
    return code


Country = Annotated[str, AfterValidator(_country)]


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publisher_uri: HttpUrl | None = None
    themes: list[ThemeCode] = Field(default_factory=list, max_length=20)
    spatial: list[Country] = Field(default_factory=list, max_length=60)
    temporal_start: date | None = None
    temporal_end: date | None = None
    keywords: list[Keyword] = Field(default_factory=list, max_length=50)  # type: ignore[valid-type]
    factory_id: str | None = Field(default=None, max_length=60,
                                   description="The AI Factory whose data lab holds it.")
    landing_page: HttpUrl | None = None
    contact_email: EmailStr | None = None
    issued: date | None = None

    @model_validator(mode="after")
    def _temporal(self) -> _Metadata:
        if (self.temporal_start and self.temporal_end
                and self.temporal_end < self.temporal_start):
            raise ValueError("temporal_end is before temporal_start")
        return self


class DatasetCreate(_Metadata):
    slug: Slug = Field(description="The name jobs use for it (JobSpec.datasets).")
    title: Titles
    description: Descriptions
    publisher_name: text(min_length=1, max_length=300)  # type: ignore[valid-type]
    data_space: str = Field(max_length=40)
    licence: str = Field(max_length=40)
    access_level: AccessLevel


class DatasetUpdate(BaseModel):
    """A partial change: only the fields sent change (send null to clear an optional one)."""

    model_config = ConfigDict(extra="forbid")

    title: Titles | None = None
    description: Descriptions | None = None
    publisher_name: text(min_length=1, max_length=300) | None = None  # type: ignore[valid-type]
    publisher_uri: HttpUrl | None = None
    themes: list[ThemeCode] | None = Field(default=None, max_length=20)
    data_space: str | None = Field(default=None, max_length=40)
    licence: str | None = Field(default=None, max_length=40)
    spatial: list[Country] | None = Field(default=None, max_length=60)
    temporal_start: date | None = None
    temporal_end: date | None = None
    keywords: list[Keyword] | None = Field(default=None, max_length=50)  # type: ignore[valid-type]
    access_level: AccessLevel | None = None
    factory_id: str | None = Field(default=None, max_length=60)
    landing_page: HttpUrl | None = None
    contact_email: EmailStr | None = None
    issued: date | None = None


class DistributionRead(BaseModel):
    id: int
    file_name: str
    title: str
    media_type: str
    file_type: str
    byte_size: int
    sha256: str
    derived_from_id: int | None
    created_at: datetime
    download_url: str


class AccessConditions(BaseModel):
    level: AccessLevel
    description: str
    access_right: str
    needs_grant: bool
    needs_permit: bool


class DatasetRead(BaseModel):
    id: int
    slug: str
    title: dict[str, str]
    description: dict[str, str]
    publisher_name: str
    publisher_uri: str | None
    themes: list[str]
    data_space: str
    licence: str
    licence_uri: str | None
    spatial: list[str]
    temporal_start: date | None
    temporal_end: date | None
    keywords: list[str]
    access_level: AccessLevel
    access: AccessConditions
    factory_id: str | None
    landing_page: str | None
    contact_email: str | None
    issued: date | None
    created_at: datetime
    modified_at: datetime
    withdrawn_at: datetime | None
    steward_ids: list[int]
    distributions: list[DistributionRead]
    byte_size: int = Field(description="All distributions together.")


class DatasetSummary(BaseModel):
    id: int
    slug: str
    title: dict[str, str]
    data_space: str
    themes: list[str]
    licence: str
    access_level: AccessLevel
    factory_id: str | None
    keywords: list[str]
    distributions: int
    byte_size: int
    modified_at: datetime
    withdrawn_at: datetime | None


class StewardsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: list[EmailStr] = Field(min_length=1, max_length=20)


class AccessRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: int = Field(gt=0)
    proposal_id: int | None = Field(default=None, gt=0,
                                    description="The project: a proposal of the organisation.")
    allocation_id: int | None = Field(default=None, gt=0,
                                      description="Or one allocation of such a proposal.")
    purpose: text(min_length=10, max_length=4000, multiline=True)  # type: ignore[valid-type]
    expires_on: date = Field(description="The last day the grant is wanted for.")
    permit_reference: text(min_length=3, max_length=200) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _one_project(self) -> AccessRequestCreate:
        if (self.proposal_id is None) == (self.allocation_id is None):
            raise ValueError("name the project: either proposal_id or allocation_id")
        return self


class AccessRequestRead(BaseModel):
    id: int
    dataset: str
    dataset_id: int
    requester_id: int
    requester: str
    organisation_id: int
    proposal_id: int
    allocation_id: int | None
    purpose: str
    requested_expiry: datetime
    permit_reference: str | None
    state: RequestState
    decided_by_id: int | None
    decision_reasons: str
    decided_at: datetime | None
    created_at: datetime
    grant_id: int | None = None


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    reasons: text(min_length=3, max_length=4000, multiline=True)  # type: ignore[valid-type]
    expires_on: date | None = Field(
        default=None, description="Grant until this day (default: the requested expiry, "
                                  "capped at the policy's maximum).")


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: text(max_length=2000, multiline=True) = ""  # type: ignore[valid-type]


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: text(min_length=3, max_length=2000, multiline=True)  # type: ignore[valid-type]


class GrantRead(BaseModel):
    id: int
    dataset: str
    dataset_id: int
    organisation_id: int
    proposal_id: int
    allocation_id: int | None
    purpose: str
    permit_reference: str | None
    request_id: int | None
    granted_by_id: int | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoke_reason: str
    state: str = Field(description="valid, expired or revoked, at the time of the answer")


class ReadRead(BaseModel):
    id: int
    dataset: str
    distribution_id: int | None
    file_name: str | None
    user_id: int | None
    who: str
    organisation_id: int | None
    grant_id: int | None
    action: ReadAction
    purpose: str
    job_id: int | None
    rule: str
    at: datetime
    detail: dict[str, Any]


class SweepResult(BaseModel):
    expired: int
