"""The figure cache: computed once per interval, stale answers served while one refresh runs,
concurrent first requests computing once, a failed refresh keeping the last answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from fabriek.observatory.cache import FigureCache

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def _run_now(work: Callable[[], None]) -> None:
    work()


def test_fresh_values_are_served_from_the_cache():
    clock, compute = Clock(), Counter()
    cache: FigureCache[int] = FigureCache(60, clock=clock, spawn=_run_now)
    assert [cache.get(30, compute) for _ in range(3)] == [1, 1, 1]
    assert cache.get(7, compute) == 2  # another window is another key
    clock.now = 59.9
    assert cache.get(30, compute) == 1 and compute.calls == 2


def test_a_stale_value_is_served_while_it_is_refreshed():
    clock, compute = Clock(), Counter()
    refreshes: list[Callable[[], None]] = []
    cache: FigureCache[int] = FigureCache(60, clock=clock, spawn=refreshes.append)
    assert cache.get("k", compute) == 1
    clock.now = 61
    assert cache.get("k", compute) == 1  # stale, served at once
    assert cache.get("k", compute) == 1 and len(refreshes) == 1  # one refresh at a time
    refreshes[0]()
    assert cache.get("k", compute) == 2 and compute.calls == 2


def test_a_failed_refresh_keeps_the_last_value_and_tries_again():
    clock = Clock()
    cache: FigureCache[int] = FigureCache(60, clock=clock, spawn=_run_now)
    assert cache.get("k", lambda: 1) == 1
    clock.now = 61

    def broken() -> int:
        raise RuntimeError("database gone")

    assert cache.get("k", broken) == 1
    assert cache.get("k", lambda: 2) == 1  # stale again: this call refreshed it
    assert cache.get("k", lambda: 3) == 2


def test_no_caching_with_a_zero_interval():
    compute = Counter()
    cache: FigureCache[int] = FigureCache(0)
    assert [cache.get("k", compute) for _ in range(3)] == [1, 2, 3]


def test_concurrent_first_requests_compute_once():
    calls = Counter()
    started = threading.Event()

    def slow() -> int:
        started.set()
        time.sleep(0.2)
        return calls()

    cache: FigureCache[int] = FigureCache(60)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == [1] * 8 and calls.calls == 1
