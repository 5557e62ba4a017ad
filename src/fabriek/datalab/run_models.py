"""The table of dataset-service runs (migration 0009).

A run is its own record, not one of the core's: compute `jobs` are scheduler jobs bound to an
allocation's GPU-hours, and the read log is append-only history, while a service run changes
state (queued → running → done | failed), carries progress for the person watching it, a
result, and the lease that lets one worker among several API processes own it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fabriek.db.base import Base, CreatedAtMixin, UTCDateTime, str_enum


class ServiceName(StrEnum):
    profile = "profile"
    validate = "validate"
    convert = "convert"
    detect_personal_data = "detect-personal-data"
    synthesize = "synthesize"

    @property
    def writes_distribution(self) -> bool:
        """Whether the run adds a file to the dataset (a steward's act: it publishes)."""
        return self in (ServiceName.convert, ServiceName.synthesize)


class RunState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"

    @property
    def final(self) -> bool:
        return self in (RunState.done, RunState.failed)


class ServiceRun(CreatedAtMixin, Base):
    __tablename__ = "datalab_service_runs"
    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
        Index("ix_datalab_service_runs_claim", "state", "lease_until"),
        Index("ix_datalab_service_runs_dataset", "dataset_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    distribution_id: Mapped[int] = mapped_column(ForeignKey("dataset_distributions.id"))
    service: Mapped[ServiceName] = mapped_column(str_enum(ServiceName))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[RunState] = mapped_column(str_enum(RunState))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(300), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    output_distribution_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_distributions.id"), nullable=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # What allowed the read when it was asked for; re-checked when a worker starts it.
    read_rule: Mapped[str] = mapped_column(String(80))
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_grants.id"), nullable=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"),
                                                        nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
