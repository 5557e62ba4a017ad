"""Schemas of the federation's policy files, validated at load (see fabriek/policy/*.yaml).

- gpu-specs.yaml: peak dense BF16 throughput and memory per GPU model, with sources;
- sectors.yaml: the sector vocabulary and the keywords that map free text to it;
- federation.yaml: partitions, languages, datasets and status per catalogue entry, plus the
  factories outside the public catalogue (the embedded `local` one).

Cross-file references (a partition's GPU model, an entry's catalogue id) are checked by
`fabriek.federation.catalogue`, which knows all the files at once.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from fabriek.access.policy_files import is_country_code
from fabriek.federation.domain import CapacityBasis, ExecutorKind, SiteKind

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_ISO_639_1 = re.compile(r"^[a-z]{2}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} {i!r}")
        seen.add(i)


# --- gpu-specs.yaml ---------------------------------------------------------------------------


class Source(_Strict):
    url: HttpUrl
    title: str = Field(min_length=1)


class GpuSpecEntry(_Strict):
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+-]*$", max_length=40)
    family: str = Field(min_length=1, max_length=20)
    memory_gb: int = Field(gt=0, le=4096)
    bf16_dense_tflops: float = Field(gt=0, le=100_000, description="Peak dense BF16, per GPU.")
    source: Source
    vendor_document: HttpUrl | None = None
    checked: bool = Field(description="Whether the BF16 figure was confirmed on `source`.")
    note: str | None = None


class GpuSpecsPolicy(_Strict):
    kind: Literal["gpu-specs"]
    version: str
    gpus: list[GpuSpecEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_models(self) -> GpuSpecsPolicy:
        _unique([g.model.lower() for g in self.gpus], "gpu model")
        return self


# --- sectors.yaml -----------------------------------------------------------------------------


class Sector(_Strict):
    id: str = Field(pattern=SLUG, max_length=40)
    label: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)


class SectorsPolicy(_Strict):
    kind: Literal["sectors"]
    version: str
    sectors: list[Sector] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> SectorsPolicy:
        _unique([s.id for s in self.sectors], "sector id")
        return self


# --- federation.yaml --------------------------------------------------------------------------


class PartitionEntry(_Strict):
    id: str = Field(pattern=SLUG, max_length=60)
    gpu_model: str
    gpu_memory_gb: int | None = Field(default=None, gt=0, description="Default: the model's.")
    gpus_per_node: int = Field(gt=0, le=64)
    nodes: int = Field(gt=0, le=100_000)
    capacity_basis: Literal[CapacityBasis.published, CapacityBasis.estimate]
    capacity_note: str = Field(min_length=1)
    executor: ExecutorKind = ExecutorKind.none


def _languages(v: list[str]) -> list[str]:
    for code in v:
        if not _ISO_639_1.match(code):
            raise ValueError(f"{code!r} is not an ISO 639-1 language code")
    _unique(v, "language")
    return v


class _WithPartitions(_Strict):
    languages: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    operational: bool = True
    partitions: list[PartitionEntry] = Field(default_factory=list)

    @field_validator("languages")
    @classmethod
    def _iso639(cls, v: list[str]) -> list[str]:
        return _languages(v)

    @model_validator(mode="after")
    def _unique_partitions(self) -> _WithPartitions:
        _unique([p.id for p in self.partitions], "partition id")
        return self


class CatalogueEntry(_WithPartitions):
    """What federation.yaml adds to one catalogue row, found by the row's derived id."""

    id: str = Field(pattern=SLUG, max_length=60)


class ExtraFactory(_WithPartitions):
    """A factory outside the public catalogue (the embedded `local` one)."""

    id: str = Field(pattern=SLUG, max_length=60)
    name: str = Field(min_length=1)
    kind: SiteKind
    country: str
    sectors: list[str] = Field(default_factory=list)

    @field_validator("country")
    @classmethod
    def _iso(cls, v: str) -> str:
        if not is_country_code(v):
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 code")
        return v


class FederationPolicy(_Strict):
    kind: Literal["federation"]
    version: str
    languages_assumption: str | None = None
    entries: list[CatalogueEntry] = Field(default_factory=list)
    extra_factories: list[ExtraFactory] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> FederationPolicy:
        _unique([e.id for e in self.entries] + [f.id for f in self.extra_factories],
                "factory id")
        return self
