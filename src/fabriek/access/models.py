"""Tables of the access capability: proposals, their checks and reviews, and allocations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fabriek.access.enums import (
    AllocationState,
    DecisionOutcome,
    EthicsCommitment,
    ProposalState,
    ReviewKind,
    ReviewState,
)
from fabriek.db.base import Base, CreatedAtMixin, UTCDateTime, str_enum


class Proposal(CreatedAtMixin, Base):
    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    mode: Mapped[str] = mapped_column(String(40), index=True)
    state: Mapped[ProposalState] = mapped_column(str_enum(ProposalState), index=True)
    title: Mapped[str] = mapped_column(String(300))
    abstract: Mapped[str] = mapped_column(Text)
    sector: Mapped[str] = mapped_column(String(60))
    gpu_hours: Mapped[int] = mapped_column(Integer)
    gpu_model: Mapped[str | None] = mapped_column(String(40), nullable=True)
    gpu_memory_gb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    storage_tb: Mapped[float] = mapped_column(Float, default=0.0)
    duration_months: Mapped[int] = mapped_column(Integer)
    start_on: Mapped[date] = mapped_column(Date)
    datasets: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO 639-1, for referral
    intended_system: Mapped[str] = mapped_column(Text)
    inference_share: Mapped[float] = mapped_column(Float, default=0.0)
    civilian_use: Mapped[bool] = mapped_column(Boolean)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    ethics_commitment: Mapped[EthicsCommitment | None] = mapped_column(
        str_enum(EthicsCommitment), nullable=True
    )
    ethics_signed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ethics_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cutoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    decision_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision: Mapped[DecisionOutcome | None] = mapped_column(
        str_enum(DecisionOutcome), nullable=True
    )
    decision_reasons: Mapped[str] = mapped_column(Text, default="")
    gpu_hours_granted: Mapped[int | None] = mapped_column(Integer, nullable=True)
    appeal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    policy_versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CheckRun(Base):
    """The outcome of one admission check at one submission."""

    __tablename__ = "proposal_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    check: Mapped[str] = mapped_column(String(60))
    passed: Mapped[bool] = mapped_column(Boolean)
    rule: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Review(CreatedAtMixin, Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("proposal_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[ReviewKind] = mapped_column(str_enum(ReviewKind))
    state: Mapped[ReviewState] = mapped_column(str_enum(ReviewState))
    scores: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    weighted_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    comment_to_applicant: Mapped[str] = mapped_column(Text, default="")
    private_comment: Mapped[str] = mapped_column(Text, default="")
    conflict_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Allocation(CreatedAtMixin, Base):
    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    factory: Mapped[str] = mapped_column(String(60))
    partition: Mapped[str] = mapped_column(String(60))
    gpu_hours: Mapped[int] = mapped_column(Integer)
    gpu_hours_used: Mapped[float] = mapped_column(Float, default=0.0)
    storage_tb: Mapped[float] = mapped_column(Float, default=0.0)
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date] = mapped_column(Date)
    priority_class: Mapped[str] = mapped_column(String(40))
    state: Mapped[AllocationState] = mapped_column(str_enum(AllocationState))
    # Why it went where it did: the referral's first choice, or an officer's override reason.
    placement_reason: Mapped[str] = mapped_column(Text, default="")


class AllocationSite(Base):
    """A partition an allocation is valid at (ACCESS-style credits usable at several factories).

    The home site holds the grant's GPU-hours in its capacity ledger; further sites hold what an
    officer split onto them, or nothing (jobs may borrow idle capacity there).
    """

    __tablename__ = "allocation_sites"
    __table_args__ = (UniqueConstraint("allocation_id", "factory", "partition"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(
        ForeignKey("allocations.id", ondelete="CASCADE"), index=True)
    factory: Mapped[str] = mapped_column(String(60))
    partition: Mapped[str] = mapped_column(String(60))
    gpu_hours_committed: Mapped[float] = mapped_column(Float, default=0.0)
    # Held evenly from this day (the allocation's start, or the day it was last moved) to the
    # allocation's end: the capacity ledger holds exactly that.
    committed_from: Mapped[date] = mapped_column(Date)
    home: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the site's scheduler was set up for it (Slurm account, limit) and closed again.
    provisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
