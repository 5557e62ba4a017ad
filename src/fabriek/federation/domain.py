"""Plain values the federation's pure policy functions work on (no I/O, no ORM).

The catalogue loader and the database adapter build these; capacity, referral, placement and the
trace-driven simulator read them, so live decisions and simulated ones come from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class SiteKind(StrEnum):
    factory = "ai-factory"
    antenna = "antenna"
    local = "local"  # the embedded default's own factory, not in the public catalogue


class CapacityBasis(StrEnum):
    """Where a capacity figure comes from: most GPU counts are not published."""

    published = "published"  # a source states it (the catalogue row's sources)
    estimate = "estimate"  # our assumption, to be replaced by the operator's figure
    operator = "operator"  # set by the factory operator through the API or CLI


class ExecutorKind(StrEnum):
    local = "local"
    slurm = "slurm"
    none = "none"  # not connected to this installation: capacity planning only


@dataclass(frozen=True)
class GpuSpec:
    model: str  # e.g. "H100-SXM5-80GB"; matched case-insensitively by family too ("H100")
    family: str  # "H100"
    memory_gb: int
    bf16_dense_tflops: float  # peak dense BF16 (no sparsity), per GPU
    source: str


@dataclass(frozen=True)
class PartitionProfile:
    factory_id: str
    id: str
    gpu_model: str
    gpu_memory_gb: int
    gpus_per_node: int
    nodes: int
    capacity_basis: CapacityBasis
    executor: ExecutorKind = ExecutorKind.none

    @property
    def key(self) -> tuple[str, str]:
        return (self.factory_id, self.id)

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


@dataclass(frozen=True)
class FactoryProfile:
    id: str  # slug, stable: allocations and jobs refer to it
    name: str
    kind: SiteKind
    country: str  # ISO 3166-1 alpha-2
    sectors: frozenset[str] = frozenset()  # sector ids from policy/sectors.yaml
    languages: frozenset[str] = frozenset()  # ISO 639-1 codes of user support
    datasets: frozenset[str] = frozenset()  # dataset ids held by its data lab(s)
    linked_factory: str | None = None  # antennas: the factory whose compute they give access to
    partitions: tuple[PartitionProfile, ...] = ()
    operational: bool = True  # False while the system is still being procured/built


@dataclass(frozen=True)
class MaintenanceWindow:
    factory_id: str
    partition_id: str | None  # None: the whole factory
    starts_at: datetime
    ends_at: datetime
    gpus: int | None = None  # None: every GPU of the partition(s)
    reason: str = ""


@dataclass(frozen=True)
class Commitment:
    """GPU-hours an allocation holds on one partition, spread evenly over its days."""

    factory_id: str
    partition_id: str
    gpu_hours: float
    start_on: date
    end_on: date  # inclusive
    allocation_id: int | None = None


@dataclass(frozen=True)
class Federation:
    factories: tuple[FactoryProfile, ...]
    gpu_specs: tuple[GpuSpec, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    by_id: dict[str, FactoryProfile] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_id.update({f.id: f for f in self.factories})

    def partitions(self) -> list[PartitionProfile]:
        return [p for f in self.factories for p in f.partitions]

    def partition(self, factory_id: str, partition_id: str) -> PartitionProfile | None:
        f = self.by_id.get(factory_id)
        return next((p for p in f.partitions if p.id == partition_id), None) if f else None
