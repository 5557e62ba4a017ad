"""Declarative base shared by every capability's tables."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Enum, MetaData, TypeDecorator, literal_column
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from fabriek.kit.clock import as_utc, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def unindexed(column: ColumnElement[int]) -> ColumnElement[int]:
    """An integer column as an expression (`column + 0`) that no index matches.

    For aggregates over a whole table grouped by an indexed column: SQLite would walk the
    index to group and read the rows in index order, one random page read per row, several
    times slower than scanning the table and sorting. Harmless on PostgreSQL. Select and group
    by the same expression.
    """
    # A literal, not a bound parameter: the SELECT and GROUP BY expressions must be the same.
    return (column + literal_column("0")).label(getattr(column, "key", None) or "value")


def str_enum(e: type[StrEnum]) -> Enum:
    """Store a StrEnum by value as VARCHAR (no native enum: adding a value needs no DDL)."""
    return Enum(e, native_enum=False, length=32, values_callable=lambda x: [m.value for m in x])
