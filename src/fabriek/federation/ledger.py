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

from sqlalchemy import Date, Float, String, bindparam, select, tuple_, update
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
    table = CapacityLedgerRow.__table__
    rows = session.connection().execute(
        select(table.c.factory, table.c.partition, table.c.week, table.c.committed_gpu_hours)
        .where(tuple_(table.c.factory, table.c.partition).in_(keys),
               table.c.week.between(weeks[0], weeks[-1])))
    for factory, partition, week, hours in rows:
        out[(factory, partition)][week] = hours
    return out


def lock(session: Session, key: SiteKey, start_on: date, end_on: date) -> dict[date, float]:
    """Lock the partition's ledger rows for the window (creating missing ones) and return them."""
    weeks = weeks_between(start_on, end_on)
    table = CapacityLedgerRow.__table__
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Core statements, one executemany for the missing rows: a multi-VALUES INSERT compiles
    # anew for every window length, and the ORM's bulk paths cost more than the I/O here.
    connection = session.connection()
    connection.execute(insert(table).on_conflict_do_nothing(), [
        {"factory": key[0], "partition": key[1], "week": w, "committed_gpu_hours": 0.0}
        for w in weeks])
    rows = connection.execute(select(table.c.week, table.c.committed_gpu_hours).where(
        table.c.factory == key[0], table.c.partition == key[1],
        table.c.week.between(weeks[0], weeks[-1])).order_by(table.c.week).with_for_update())
    return {week: committed_gpu_hours for week, committed_gpu_hours in rows}


def add(session: Session, key: SiteKey, gpu_hours: float, start_on: date, end_on: date) -> None:
    """Add (or, negative, take off) GPU-hours spread evenly over [start_on, end_on].

    The caller has locked the rows with `lock` in this transaction. Ledger rows are never
    loaded as ORM objects, so one Core executemany needs no session synchronisation.
    """
    if gpu_hours == 0:
        return
    table = CapacityLedgerRow.__table__
    session.connection().execute(
        update(table).where(table.c.factory == bindparam("f"),
                            table.c.partition == bindparam("p"),
                            table.c.week == bindparam("w"))
        .values(committed_gpu_hours=table.c.committed_gpu_hours + bindparam("share")),
        [{"f": key[0], "p": key[1], "w": week, "share": spread(gpu_hours, start_on, end_on, week)}
         for week in weeks_between(start_on, end_on)])
