"""Schema of policy/personal-data.yaml, validated at load: what the detector looks for."""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fabriek.access.policy_files import is_country_code
from fabriek.kit.policydata import read_policy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def normal_header(text: str) -> str:
    """A column header as hints are written: lower case, separators and camelCase as spaces."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    return " ".join(re.split(r"[\s_\-./:]+", spaced.strip().casefold())).strip()


def _headers(values: list[str]) -> list[str]:
    return [normal_header(v) for v in values]


class Hinted(_Strict):
    headers: list[str] = Field(default_factory=list)

    @field_validator("headers")
    @classmethod
    def _normal(cls, v: list[str]) -> list[str]:
        return _headers(v)


class PhonePolicy(Hinted):
    regions: list[str] = Field(min_length=1)

    @field_validator("regions")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if not is_country_code(r)]
        if bad:
            raise ValueError(f"not ISO 3166 country codes: {bad}")
        return v


class IdentifierRule(Hinted):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    label: str = Field(min_length=1)
    country: str
    validator: str = Field(pattern=r"^[a-z]{2,3}(\.[a-z_]+)+$",
                           description="A python-stdnum module, e.g. nl.bsn.")
    pattern: str

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        if not is_country_code(v):
            raise ValueError(f"not an ISO 3166 country code: {v}")
        return v

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from exc
        return v

    @field_validator("validator")
    @classmethod
    def _exists(cls, v: str) -> str:
        try:
            module = importlib.import_module(f"stdnum.{v}")
        except ImportError as exc:
            raise ValueError(f"python-stdnum has no module {v}") from exc
        if not callable(getattr(module, "is_valid", None)):
            raise ValueError(f"stdnum.{v} has no is_valid()")
        return v


class NamePolicy(Hinted):
    locales: list[str] = Field(min_length=1)
    min_share: float = Field(gt=0, le=1)
    min_share_with_header: float = Field(gt=0, le=1)


class PersonalDataPolicy(_Strict):
    kind: Literal["personal-data"]
    version: str
    min_share: float = Field(gt=0, le=1)
    examples: int = Field(ge=0, le=20)
    row_numbers: int = Field(ge=0, le=1000)
    email: Hinted
    phone: PhonePolicy
    iban: Hinted
    identifiers: list[IdentifierRule] = Field(min_length=1)
    names: NamePolicy

    @model_validator(mode="after")
    def _unique_ids(self) -> PersonalDataPolicy:
        ids = [r.id for r in self.identifiers]
        if len(set(ids)) != len(ids):
            raise ValueError("an identifier id is used twice")
        return self


@lru_cache(maxsize=4)
def load_personal_data_policy(override_dir: Path | None = None) -> PersonalDataPolicy:
    return read_policy("personal-data", PersonalDataPolicy, override_dir)
