"""The capacity ledger: GPU-hours committed per partition and ISO week, kept as running totals.

Acceptances add an allocation's spread share to each week of its window, revocations and moves
take it off, so checking a request reads a handful of rows however many allocations exist. The
rows of the weeks being changed are locked (FOR UPDATE, in week order so two acceptances
never deadlock; SQLite's writer lock serialises the same way), and the fit is re-checked under
the lock: two concurrent acceptances can never both take the last free GPU-hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import Date, Float, String, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from fabriek.db.base import Base
from fabriek.federation.capacity import spread, weeks_between

SiteKey = tuple[str, str]


class CapacityLedgerRow(Base):
    __tablename__ = "capacity_ledger"

    factory: Mapped[str] = mapped_column(String(60), primary_key=True)
    partition: Mapped[str] = mapped_column(String(60), primary_key=True)
    week: Mapped[date] = mapped_column(Date, primary_key=True)  # its Monday
    committed_gpu_hours: Mapped[float] = mapped_column(Float, default=0.0)


def committed(session: Session, keys: Iterable[SiteKey], start_on: date, end_on: date
              ) -> dict[SiteKey, dict[date, float]]:
    """What is committed on each partition in each week of [start_on, end_on] (no lock)."""
    keys = list(keys)
    out: dict[SiteKey, dict[date, float]] = defaultdict(dict)
    if not keys:
        return out
    weeks = weeks_between(start_on, end_on)
    rows = session.execute(select(CapacityLedgerRow).where(
        tuple_(CapacityLedgerRow.factory, CapacityLedgerRow.partition).in_(keys),
        CapacityLedgerRow.week.between(weeks[0], weeks[-1]))).scalars()
    for row in rows:
        out[(row.factory, row.partition)][row.week] = row.committed_gpu_hours
    return out


def lock(session: Session, key: SiteKey, start_on: date, end_on: date) -> dict[date, float]:
    """Lock the partition's ledger rows for the window (creating missing ones) and return them."""
    weeks = weeks_between(start_on, end_on)
    values = [{"factory": key[0], "partition": key[1], "week": w, "committed_gpu_hours": 0.0}
              for w in weeks]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(CapacityLedgerRow).values(values).on_conflict_do_nothing())
    rows = session.execute(select(CapacityLedgerRow).where(
        CapacityLedgerRow.factory == key[0], CapacityLedgerRow.partition == key[1],
        CapacityLedgerRow.week.between(weeks[0], weeks[-1]))
        .order_by(CapacityLedgerRow.week).with_for_update()).scalars()
    return {r.week: r.committed_gpu_hours for r in rows}


def add(session: Session, key: SiteKey, gpu_hours: float, start_on: date, end_on: date) -> None:
    """Add (or, negative, take off) GPU-hours spread evenly over [start_on, end_on].

    The caller has locked the rows with `lock` in this transaction.
    """
    if gpu_hours == 0:
        return
    for week in weeks_between(start_on, end_on):
        share = spread(gpu_hours, start_on, end_on, week)
        session.execute(update(CapacityLedgerRow).where(
            CapacityLedgerRow.factory == key[0], CapacityLedgerRow.partition == key[1],
            CapacityLedgerRow.week == week).values(
            committed_gpu_hours=CapacityLedgerRow.committed_gpu_hours + share))
