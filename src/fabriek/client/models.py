"""Client-side shapes: a page of a keyset-paginated list, and the shared response schemas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fabriek.access.schemas import CutoffReleased
from fabriek.audit.schemas import ChainReport
from fabriek.kit.schemas import Health

__all__ = ["ChainReport", "CutoffReleased", "Health", "Page"]

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a keyset-paginated list; pass `next_after` as `after` for the next one."""

    items: list[T] = field(default_factory=list)
    next_after: int | None = None
