"""Request and response shapes of the federation API, shared by the client and the CLI."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from fabriek.federation.domain import CapacityBasis, ExecutorKind, SiteKind
from fabriek.kit.text import text

MAX_NODES = 100_000
MAX_GPUS_PER_NODE = 64
MAX_GPU_MEMORY_GB = 4096


class GpuSpecRead(BaseModel):
    model: str
    family: str
    memory_gb: int
    bf16_dense_tflops: float = Field(description="Peak dense BF16 per GPU (no sparsity).")
    source_url: str
    source_title: str
    checked: bool = Field(description="Whether the BF16 figure was confirmed on the source.")
    note: str | None = None


class PartitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    gpu_model: str
    gpu_memory_gb: int
    gpus_per_node: int
    nodes: int
    gpus: int
    capacity_basis: CapacityBasis
    capacity_note: str
    executor: ExecutorKind
    updated_at: datetime


class MaintenanceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    factory_id: str
    partition_id: str | None
    starts_at: datetime
    ends_at: datetime
    gpus: int | None
    reason: str


class FactorySummary(BaseModel):
    id: str
    name: str
    kind: SiteKind
    country: str
    site: str
    supercomputer: str
    sectors: list[str]
    linked_factory: str | None
    operational: bool
    gpus: int = Field(description="GPUs in all partitions (estimates included).")
    capacity_basis: list[CapacityBasis] = Field(description="Bases of the partitions' figures.")


class FactoryRead(FactorySummary):
    hosting_entity: str
    system_status: str
    sector_focus: str
    languages: list[str]
    datasets: list[str]
    sources: list[str]
    catalogue_version: str
    selection_wave: str | None = None
    selection_on: date | None = None
    accelerators: str | None = Field(default=None, description="As the catalogue states it.")
    partitions: list[PartitionRead]
    maintenance: list[MaintenanceRead]
    operators: list[int] = Field(default_factory=list,
                                 description="User ids of its operators (access officers and "
                                             "its own operators only).")


class FactoryPage(BaseModel):
    items: list[FactorySummary]
    next_after: str | None = Field(default=None, description="Pass as `after` for the next page.")


class CapacityUpdate(BaseModel):
    """An operator's real figures for a partition; they replace the catalogue's."""

    model_config = ConfigDict(extra="forbid")

    nodes: int = Field(ge=1, le=MAX_NODES)
    gpus_per_node: int = Field(ge=1, le=MAX_GPUS_PER_NODE)
    gpu_model: text(min_length=1, max_length=40) | None = Field(  # type: ignore[valid-type]
        default=None, description="A model from /gpu-specs; default: unchanged.")
    gpu_memory_gb: int | None = Field(default=None, ge=1, le=MAX_GPU_MEMORY_GB,
                                      description="Default: the model's memory.")
    note: text(max_length=500) = ""  # type: ignore[valid-type]


class MaintenanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partition_id: text(min_length=1, max_length=60) | None = Field(  # type: ignore[valid-type]
        default=None, description="Default: the whole factory.")
    starts_at: datetime
    ends_at: datetime
    gpus: int | None = Field(default=None, ge=1, description="Default: every GPU.")
    reason: text(min_length=1, max_length=2000, multiline=True)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _order(self) -> MaintenanceCreate:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("give starts_at and ends_at with a time zone, e.g. "
                             "2026-12-01T08:00:00Z")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class OperatorAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
