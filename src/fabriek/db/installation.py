"""This installation's identity: a random id made when its database was created.

Schedulers outlive databases: a job comment carries this id beside the job's number, so a
platform rebuilt from scratch (numbering from 1 again) or a second one on the same cluster
never adopts another's jobs.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Mapped, mapped_column

from fabriek.db.base import Base
from fabriek.db.session import Database


class Installation(Base):
    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32))
    # Moved by database triggers on every write to the federation's tables (migration 0010).
    federation_revision: Mapped[int] = mapped_column(BigInteger, server_default="0")


def installation_uid(db: Database) -> str | None:
    """The id, or None on a database not migrated yet."""
    try:
        with db.unit_of_work(readonly=True) as s:
            return s.execute(select(Installation.uid).where(Installation.id == 1)).scalar()
    except (OperationalError, ProgrammingError):
        return None
