"""Tables of the federation: factories and antennas, partitions, maintenance, operators.

Seeded from the catalogue (`service.sync_catalogue`); capacity set by an operator (basis
`operator`) is never overwritten by a newer catalogue.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fabriek.db.base import Base, CreatedAtMixin, UTCDateTime, str_enum
from fabriek.federation.domain import CapacityBasis, ExecutorKind, SiteKind
from fabriek.kit.clock import utcnow


class Factory(Base):
    __tablename__ = "factories"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)  # slug, see derive_id
    # A number for the audit log, whose subjects are integers; assigned once, never reused.
    number: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SiteKind] = mapped_column(str_enum(SiteKind))
    country: Mapped[str] = mapped_column(String(2), index=True)
    site: Mapped[str] = mapped_column(Text, default="")
    hosting_entity: Mapped[str] = mapped_column(Text, default="")
    supercomputer: Mapped[str] = mapped_column(Text, default="")
    system_status: Mapped[str] = mapped_column(String(100), default="")
    sector_focus: Mapped[str] = mapped_column(Text, default="")
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    datasets: Mapped[list[str]] = mapped_column(JSON, default=list)
    linked_factory: Mapped[str | None] = mapped_column(String(60), nullable=True)
    operational: Mapped[bool] = mapped_column(Boolean, default=True)
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    catalogue_version: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Partition(Base):
    __tablename__ = "partitions"
    __table_args__ = (
        CheckConstraint("gpus_per_node > 0", name="gpus_per_node_positive"),
        CheckConstraint("nodes > 0", name="nodes_positive"),
        CheckConstraint("gpu_memory_gb > 0", name="gpu_memory_positive"),
    )

    factory_id: Mapped[str] = mapped_column(ForeignKey("factories.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    gpu_model: Mapped[str] = mapped_column(String(40))
    gpu_memory_gb: Mapped[int] = mapped_column(Integer)
    gpus_per_node: Mapped[int] = mapped_column(Integer)
    nodes: Mapped[int] = mapped_column(Integer)
    capacity_basis: Mapped[CapacityBasis] = mapped_column(str_enum(CapacityBasis))
    capacity_note: Mapped[str] = mapped_column(Text, default="")
    executor: Mapped[ExecutorKind] = mapped_column(str_enum(ExecutorKind))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Maintenance(CreatedAtMixin, Base):
    """A maintenance window: a partition (or the whole factory) loses GPUs for a while."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("gpus IS NULL OR gpus > 0", name="gpus_positive"),
        ForeignKeyConstraint(["factory_id", "partition_id"],
                             ["partitions.factory_id", "partitions.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    factory_id: Mapped[str] = mapped_column(ForeignKey("factories.id"), index=True)
    partition_id: Mapped[str | None] = mapped_column(String(60), nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: all of them
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class FactoryOperator(CreatedAtMixin, Base):
    """Which factories a person with the factory-operator role runs (only those)."""

    __tablename__ = "factory_operators"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    factory_id: Mapped[str] = mapped_column(ForeignKey("factories.id"), primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

