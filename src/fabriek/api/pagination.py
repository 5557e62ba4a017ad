"""Keyset pagination: `?after=<last id>&limit=N`, answered with the items and `next_after`."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=200, description="At most this many items.")]
After = Annotated[int, Query(ge=0, description="Only items after this id (from next_after).")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_after: int | None = None


def page(items: list[T], ids: list[int], limit: int) -> Page[T]:
    return Page[T](items=items, next_after=ids[-1] if len(ids) == limit else None)
