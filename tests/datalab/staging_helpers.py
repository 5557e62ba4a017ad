"""Set-up for the staging tests on both executors: a published dataset with one CSV file, a
grant for a project, the read log."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fabriek.datalab import service
from fabriek.datalab.models import Dataset, Distribution, Grant, ReadEvent
from fabriek.datalab.schemas import DatasetCreate
from fabriek.datalab.service import DatalabConfig
from fabriek.db.session import Database
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow
from tests.datalab.conftest import dataset_body

CSV = b"hour,heart_rate\n0,72\n1,75\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def publish(database: Database, cfg: DatalabConfig, steward: Any, slug: str, *,
            level: str = "approval", data: bytes = CSV, file_name: str = "vitals.csv",
            **metadata: Any) -> int:
    """A dataset at `level` with one file, published by `steward`; returns its id."""
    me = Principal(user_id=steward.user_id, email=steward.email,
                   roles=frozenset({Role.data_steward}))
    with database.unit_of_work() as s:
        dataset = service.create_dataset(
            s, me, DatasetCreate(**dataset_body(slug, access_level=level, **metadata)),
            cfg=cfg)
        dataset, name, fmt = service.prepare_upload(s, me, slug, file_name, cfg=cfg)
        blob = cfg.store.put(io.BytesIO(data), max_bytes=cfg.max_upload_bytes)
        service.add_distribution(s, me, dataset, name, fmt, blob)
        return dataset.id


def grant(database: Database, dataset_id: int, allocation_id: int, *,
          purpose: str = "train a triage model", days: float = 30,
          permit: str | None = None) -> int:
    """A grant to the allocation's organisation for its proposal (as a steward's approval
    leaves one)."""
    with database.unit_of_work() as s:
        project = service.project_of_allocation(s, allocation_id)
        now = utcnow()
        row = Grant(dataset_id=dataset_id, organisation_id=project.organisation_id,
                    proposal_id=project.proposal_id, allocation_id=None, purpose=purpose,
                    permit_reference=permit, expires_at=now + timedelta(days=days),
                    created_at=now)
        s.add(row)
        s.flush()
        return row.id


def set_grant(database: Database, grant_id: int, **values: datetime | None) -> None:
    with database.unit_of_work() as s:
        row = s.get(Grant, grant_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def tamper(database: Database, cfg: DatalabConfig, dataset_id: int, data: bytes) -> Path:
    """Overwrite the stored file of the dataset's first distribution (in place)."""
    with database.unit_of_work(readonly=True) as s:
        dist = s.execute(select(Distribution).where(
            Distribution.dataset_id == dataset_id)).scalars().first()
        assert dist is not None
        path = service.blob_path(cfg, dist)
    os.chmod(path, 0o644)
    path.write_bytes(data)
    return path


def reads(database: Database) -> list[ReadEvent]:
    with database.unit_of_work(readonly=True) as s:
        rows = list(s.execute(select(ReadEvent).order_by(ReadEvent.id)).scalars())
        s.expunge_all()
        return rows


def slug_of(database: Database, dataset_id: int) -> str:
    with database.unit_of_work(readonly=True) as s:
        dataset = s.get(Dataset, dataset_id)
        assert dataset is not None
        return dataset.slug
