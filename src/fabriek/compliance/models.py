"""Tables of the compliance capability: self-assessments, which proposal carries which, and the
compute ledger's per-model settings and the threshold warnings it sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fabriek.db.base import Base, CreatedAtMixin, UTCDateTime


class ActAssessment(CreatedAtMixin, Base):
    """An AI Act self-assessment: the answers and the outcome the tree gave for them."""

    __tablename__ = "act_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    tree_version: Mapped[str] = mapped_column(String(80))
    lang: Mapped[str] = mapped_column(String(2))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)


class ProposalAssessment(Base):
    """The self-assessment a proposal carries (one; replaced while the proposal is a draft)."""

    __tablename__ = "proposal_assessments"

    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("act_assessments.id"), index=True)
    attached_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModelLedger(Base):
    """How the training compute of one organisation's model is counted, when not the default.

    basis: "estimate" (GPU-hours × peak × the default utilisation), "measured-utilisation"
    (the owner's measured utilisation), or "reported" (the owner's own FLOP figure).
    """

    __tablename__ = "act_model_ledgers"
    __table_args__ = (UniqueConstraint("organisation_id", "model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    model: Mapped[str] = mapped_column(String(64))
    basis: Mapped[str] = mapped_column(String(32))
    utilisation: Mapped[float | None] = mapped_column(Float, nullable=True)
    reported_flop: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerWarning(CreatedAtMixin, Base):
    """A FLOP threshold a model crossed on the platform; recorded once per threshold."""

    __tablename__ = "act_ledger_warnings"
    __table_args__ = (UniqueConstraint("organisation_id", "model", "threshold_exponent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    threshold_exponent: Mapped[int] = mapped_column(Integer)  # 23 or 25: 10^n FLOP
    flop: Mapped[float] = mapped_column(Float)
    basis: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(500))
