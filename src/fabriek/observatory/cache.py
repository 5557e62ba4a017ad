"""Public figures computed at most once per interval per key, never waited for twice.

The observatory is public and unauthenticated, and its figures aggregate every job; computed
per request, anyone could keep the database busy with a loop of GETs, and a dashboard would
wait for the aggregate queries on every view. So the API keeps the last answer per key (the
window in days) for `ttl` seconds. When it is older, the stale answer is served while one
background thread computes the next (stale-while-revalidate, RFC 5861), so after the first
request nobody waits. Only the very first request for a key computes while its caller waits;
concurrent first requests wait for that one computation instead of starting their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("fabriek.observatory")


def _in_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="observatory-refresh", daemon=True).start()


@dataclass
class _Entry(Generic[T]):
    value: T
    computed_at: float
    refreshing: bool = False


class FigureCache(Generic[T]):
    """`get(key, compute)`: the cached value, computing it only when missing or stale.

    `ttl` <= 0 turns caching off (every call computes). `spawn` runs a refresh (a daemon
    thread; tests pass a function that runs it at once).
    """

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic,
                 spawn: Callable[[Callable[[], None]], None] = _in_thread) -> None:
        self.ttl = ttl
        self._clock = clock
        self._spawn = spawn
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._first: dict[Hashable, threading.Lock] = {}  # one first computation per key

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self.ttl <= 0:
            return compute()
        with self._lock:
            entry = self._entries.get(key)
            refresh = entry is not None and not entry.refreshing and (
                self._clock() - entry.computed_at >= self.ttl)
            if entry is not None and refresh:
                entry.refreshing = True
            first = self._first.setdefault(key, threading.Lock())
        if entry is not None:
            if refresh:  # started outside the lock: the refresh takes it to store its value
                self._spawn(lambda: self._refresh(key, compute))
            return entry.value
        return self._compute_first(key, first, compute)

    def _compute_first(self, key: Hashable, first: threading.Lock, compute: Callable[[], T]
                       ) -> T:
        with first:
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None:  # another request computed it while this one waited
                return entry.value
            value = compute()
            with self._lock:
                self._entries[key] = _Entry(value, self._clock())
            return value

    def _refresh(self, key: Hashable, compute: Callable[[], T]) -> None:
        try:
            value = compute()
        except Exception:
            log.exception("observatory figures for %r could not be refreshed; the previous "
                          "ones are served until the next try", key)
            with self._lock:
                self._entries[key].refreshing = False
            return
        with self._lock:
            self._entries[key] = _Entry(value, self._clock())
