"""Tables of the data labs: datasets (DCAT-AP metadata), their distributions (files in the blob
store), stewards, access requests, grants, and the read log.

A dataset is never deleted once it has been read or requested: it is withdrawn
(`withdrawn_at`), so the read log and the grants keep pointing at what was read.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fabriek.datalab.enums import AccessLevel, ReadAction, RequestState
from fabriek.db.base import Base, CreatedAtMixin, UTCDateTime, str_enum
from fabriek.kit.clock import utcnow


class Dataset(CreatedAtMixin, Base):
    """A dcat:Dataset. `slug` is the name jobs use (JobSpec.datasets, compute.spec.NAME)."""

    __tablename__ = "datasets"
    __table_args__ = (
        CheckConstraint("temporal_end IS NULL OR temporal_start IS NULL "
                        "OR temporal_end >= temporal_start", name="temporal_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    # {lang: text}, at least "en" (dct:title / dct:description with language tags).
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON)
    publisher_name: Mapped[str] = mapped_column(String(300))
    publisher_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)  # EU data-theme codes
    data_space: Mapped[str] = mapped_column(String(40), index=True)  # policy data space id
    licence: Mapped[str] = mapped_column(String(40))  # policy licence id
    spatial: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO 3166-1 alpha-2
    temporal_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    temporal_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    access_level: Mapped[AccessLevel] = mapped_column(str_enum(AccessLevel), index=True)
    # Where the data lab sits: a federation factory id; None: this installation's own lab.
    factory_id: Mapped[str | None] = mapped_column(ForeignKey("factories.id"), nullable=True)
    landing_page: Mapped[str | None] = mapped_column(String(500), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    issued: Mapped[date | None] = mapped_column(Date, nullable=True)  # dct:issued
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Lower-case slug, titles, descriptions and keywords, for search on any database (JSON
    # columns escape non-ASCII text, so they cannot be searched as they are stored).
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Set on the seeded datasets: which seed made it, so seeding again changes nothing.
    seed: Mapped[str | None] = mapped_column(String(40), nullable=True)


class DatasetSteward(CreatedAtMixin, Base):
    """Who runs a dataset: publishes its files, decides its requests, sees its reads.

    The person who creates a dataset becomes its steward; stewards (and access officers) add
    others, who must hold the data-steward role.
    """

    __tablename__ = "dataset_stewards"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"),
                                            primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class Distribution(CreatedAtMixin, Base):
    """A dcat:Distribution: one file of a dataset, stored in the blob store under its hash."""

    __tablename__ = "dataset_distributions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "file_name"),
        CheckConstraint("byte_size >= 0", name="byte_size_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))  # checked: no path, no control chars
    title: Mapped[str] = mapped_column(String(300), default="")
    media_type: Mapped[str] = mapped_column(String(100))
    file_type: Mapped[str] = mapped_column(String(20))  # EU file-type code (dct:format)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    blob_key: Mapped[str] = mapped_column(String(200))  # the store's key, never user input
    # A distribution made from another by a data-lab service (e.g. CSV → Parquet).
    derived_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_distributions.id"), nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class AccessRequest(CreatedAtMixin, Base):
    """An organisation asks to use a dataset for a project (a proposal, or one allocation of
    it), with a purpose and the expiry it wants; a steward decides with reasons."""

    __tablename__ = "dataset_access_requests"
    __table_args__ = (
        Index("ix_dataset_access_requests_queue", "dataset_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"),
                                                      nullable=True)
    purpose: Mapped[str] = mapped_column(Text)
    requested_expiry: Mapped[datetime] = mapped_column(UTCDateTime())
    permit_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[RequestState] = mapped_column(str_enum(RequestState))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decision_reasons: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Grant(CreatedAtMixin, Base):
    """Permission for an organisation to read a dataset for one project until `expires_at`.

    Valid while now < expires_at and not revoked; `expired_at` is set by the sweep for the
    record only: validity is always decided from `expires_at` at the moment of use.
    """

    __tablename__ = "dataset_grants"
    __table_args__ = (
        Index("ix_dataset_grants_lookup", "dataset_id", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    # None: every allocation of the proposal; else only this one.
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"),
                                                      nullable=True)
    purpose: Mapped[str] = mapped_column(Text)
    permit_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_access_requests.id"), nullable=True, unique=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    revoke_reason: Mapped[str] = mapped_column(Text, default="")


class ReadEvent(Base):
    """One read of a dataset's data: who, for which organisation and project, what, why.

    Append-only; written in the same transaction as the grant check that allowed it (a
    download's row is committed before the first byte is sent).
    """

    __tablename__ = "dataset_reads"
    __table_args__ = (
        Index("ix_dataset_reads_dataset_at", "dataset_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    distribution_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_distributions.id"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    who: Mapped[str] = mapped_column(String(320))  # e-mail, or "anonymous" for open data
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"),
                                                        nullable=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_grants.id"), nullable=True)
    action: Mapped[ReadAction] = mapped_column(str_enum(ReadAction))
    purpose: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    rule: Mapped[str] = mapped_column(String(80))  # which access rule allowed it
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
