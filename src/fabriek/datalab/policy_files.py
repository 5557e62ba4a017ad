"""Schema of policy/datalab.yaml, validated at load: vocabularies, access levels, grant
durations and the formats that may be uploaded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from fabriek.datalab.enums import AccessLevel
from fabriek.kit.policydata import read_policy

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_EXTENSION = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Strict):
    """A label in English (required) and Dutch (the portal's two languages)."""

    en: str = Field(min_length=1)
    nl: str = Field(min_length=1)


class DataSpace(_Strict):
    id: str = Field(pattern=SLUG, max_length=40)
    name: Names
    homepage: HttpUrl
    themes: list[str] = Field(default_factory=list)


class Theme(_Strict):
    id: str = Field(pattern=r"^[A-Z_]{2,20}$")
    name: Names


class Licence(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+-]*$", max_length=40)
    name: str = Field(min_length=1)
    uri: HttpUrl
    spdx: str | None = None


class AccessLevelEntry(_Strict):
    id: AccessLevel
    description: Names
    access_right: HttpUrl


class GrantDurations(_Strict):
    default_days: int = Field(gt=0)
    maximum_days: int = Field(gt=0)

    @model_validator(mode="after")
    def _default_within_maximum(self) -> GrantDurations:
        if self.default_days > self.maximum_days:
            raise ValueError("grants.default_days exceeds grants.maximum_days")
        return self


class UploadFormat(_Strict):
    extension: str = Field(max_length=20)
    media_type: str = Field(pattern=r"^[a-z]+/[a-z0-9.+-]+$", max_length=100)
    file_type: str = Field(pattern=r"^[A-Z0-9_]{2,20}$")  # EU file-type code
    compressed: bool = False

    @model_validator(mode="after")
    def _extension_shape(self) -> UploadFormat:
        if not _EXTENSION.match(self.extension):
            raise ValueError(f"extension {self.extension!r}: lower-case letters and digits, "
                             "at most one inner dot")
        return self


class Publisher(_Strict):
    name: str = Field(min_length=1)
    uri: HttpUrl | None = None


class CatalogueInfo(_Strict):
    title: Names
    description: Names
    publisher: Publisher
    language: list[str] = Field(default_factory=lambda: ["en"])


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} {i!r}")
        seen.add(i)


class DatalabPolicy(_Strict):
    kind: Literal["datalab"]
    version: str
    catalogue: CatalogueInfo
    data_space_scheme: HttpUrl
    data_spaces: list[DataSpace] = Field(min_length=1)
    theme_scheme: HttpUrl
    themes: list[Theme] = Field(min_length=1)
    licences: list[Licence] = Field(min_length=1)
    access_levels: list[AccessLevelEntry]
    grants: GrantDurations
    upload_formats: list[UploadFormat] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> DatalabPolicy:
        _unique([d.id for d in self.data_spaces], "data space")
        _unique([t.id for t in self.themes], "theme")
        _unique([lic.id for lic in self.licences], "licence")
        _unique([a.id for a in self.access_levels], "access level")
        _unique([f.extension for f in self.upload_formats], "upload extension")
        missing = set(AccessLevel) - {a.id for a in self.access_levels}
        if missing:
            raise ValueError(f"access levels not described: {sorted(missing)}")
        themes = {t.id for t in self.themes}
        for space in self.data_spaces:
            unknown = [t for t in space.themes if t not in themes]
            if unknown:
                raise ValueError(f"data space {space.id!r}: unknown themes {unknown}")
        return self

    @classmethod
    def load(cls, policy_dir: Path | None = None) -> DatalabPolicy:
        return read_policy("datalab", cls, policy_dir)

    # --- look-ups --------------------------------------------------------------------------

    def data_space(self, data_space_id: str) -> DataSpace | None:
        return next((d for d in self.data_spaces if d.id == data_space_id), None)

    def data_space_uri(self, data_space_id: str) -> str:
        return f"{str(self.data_space_scheme).rstrip('/')}/{data_space_id}"

    def theme_uri(self, theme_id: str) -> str:
        return f"{str(self.theme_scheme).rstrip('/')}/{theme_id}"

    def licence(self, licence_id: str) -> Licence | None:
        return next((lic for lic in self.licences if lic.id == licence_id), None)

    def access_level(self, level: AccessLevel) -> AccessLevelEntry:
        return next(a for a in self.access_levels if a.id is level)

    def format_for(self, file_name: str) -> UploadFormat | None:
        """The format of a file by its name's extension; the longest match wins (.csv.gz)."""
        lower = file_name.lower()
        matches = [f for f in self.upload_formats if lower.endswith("." + f.extension)]
        return max(matches, key=lambda f: len(f.extension), default=None)
