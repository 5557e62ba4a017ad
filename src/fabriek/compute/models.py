"""Tables of the compute capability: jobs and the usage warnings sent about allocations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fabriek.compute.enums import JobState
from fabriek.db.base import Base, CreatedAtMixin, UTCDateTime, str_enum


class Job(CreatedAtMixin, Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # the validated JobSpec
    gpus: Mapped[int] = mapped_column(Integer)
    time_limit_minutes: Mapped[int] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    factory: Mapped[str] = mapped_column(String(60))
    partition: Mapped[str] = mapped_column(String(60))
    executor: Mapped[str] = mapped_column(String(20))
    priority_class: Mapped[str] = mapped_column(String(40))
    priority_rank: Mapped[int] = mapped_column(Integer)
    state: Mapped[JobState] = mapped_column(str_enum(JobState), index=True)
    external_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    submit_attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signal: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # GPU-hours of earlier runs (a pre-empted job starts again; what it used stays used).
    gpu_hours_prior: Mapped[float] = mapped_column(Float, default=0.0)
    gpu_hours_used: Mapped[float] = mapped_column(Float, default=0.0)
    preemptions: Mapped[int] = mapped_column(Integer, default=0)
    last_preempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)


class UsageWarning(CreatedAtMixin, Base):
    """A usage threshold an allocation crossed; sent once per threshold."""

    __tablename__ = "usage_warnings"
    __table_args__ = (UniqueConstraint("allocation_id", "threshold_percent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(Integer, index=True)
    threshold_percent: Mapped[int] = mapped_column(Integer)
    gpu_hours_used: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)


class SiteHealth(Base):
    """Whether a partition's scheduler answered the last time the broker asked.

    Written by the reconciler; read when placing jobs, so a factory that stops answering is
    routed around by every process, and tried again once it answers.
    """

    __tablename__ = "site_health"

    factory: Mapped[str] = mapped_column(String(60), primary_key=True)
    partition: Mapped[str] = mapped_column(String(60), primary_key=True)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    since: Mapped[datetime] = mapped_column(UTCDateTime())  # of the current state
    last_error: Mapped[str] = mapped_column(Text, default="")
