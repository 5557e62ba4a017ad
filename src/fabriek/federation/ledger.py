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
    rows = session.connection().execute(_COMMITTED, {"keys": keys, "first": weeks[0],
                                                     "last": weeks[-1]})
    for factory, partition, week, hours in rows:
        out[(factory, partition)][week] = hours
    return out


def lock(session: Session, key: SiteKey, start_on: date, end_on: date, *, create: bool = True
         ) -> dict[date, float]:
    """Lock the partition's ledger rows for the window and return them. `create`: first make
    the missing ones (False: the caller saw them all; rows are never deleted)."""
    weeks = weeks_between(start_on, end_on)
    connection = session.connection()
    if create:
        # One executemany for the missing rows: a multi-VALUES INSERT compiles anew for every
        # window length, and the ORM's bulk paths cost more than the I/O here.
        connection.execute(_CREATE[connection.dialect.name == "postgresql"], [
            {"factory": key[0], "partition": key[1], "week": w, "committed_gpu_hours": 0.0}
            for w in weeks])
    rows = connection.execute(_LOCK, {"f": key[0], "p": key[1], "first": weeks[0],
                                      "last": weeks[-1]})
    return {week: committed_gpu_hours for week, committed_gpu_hours in rows}


def add(session: Session, key: SiteKey, gpu_hours: float, start_on: date, end_on: date) -> None:
    """Add (or, negative, take off) GPU-hours spread evenly over [start_on, end_on].

    The caller has locked the rows with `lock` in this transaction. Ledger rows are never
    loaded as ORM objects, so one Core executemany needs no session synchronisation.
    """
    if gpu_hours == 0:
        return
    session.connection().execute(_ADD, [
        {"f": key[0], "p": key[1], "w": week, "share": spread(gpu_hours, start_on, end_on, week)}
        for week in weeks_between(start_on, end_on)])


# Built once (every acceptance runs them): see identity.service._PRINCIPAL_BY_TOKEN. Ledger
# rows are never loaded as ORM objects, so Core statements need no session synchronisation.
_T = CapacityLedgerRow.__table__
_COMMITTED = select(_T.c.factory, _T.c.partition, _T.c.week, _T.c.committed_gpu_hours).where(
    tuple_(_T.c.factory, _T.c.partition).in_(bindparam("keys", expanding=True)),
    _T.c.week.between(bindparam("first"), bindparam("last")))
_CREATE = {postgresql: (pg_insert if postgresql else sqlite_insert)(_T).on_conflict_do_nothing()
           for postgresql in (False, True)}
_LOCK = (select(_T.c.week, _T.c.committed_gpu_hours)
         .where(_T.c.factory == bindparam("f"), _T.c.partition == bindparam("p"),
                _T.c.week.between(bindparam("first"), bindparam("last")))
         .order_by(_T.c.week).with_for_update())
_ADD = (update(_T).where(_T.c.factory == bindparam("f"), _T.c.partition == bindparam("p"),
                         _T.c.week == bindparam("w"))
        .values(committed_gpu_hours=_T.c.committed_gpu_hours + bindparam("share")))
