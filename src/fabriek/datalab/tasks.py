"""Background work of the data labs, run by the worker loop (safe to repeat, in any number of
processes)."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from fabriek.datalab.grants import sweep_expired
from fabriek.db.session import Database

SWEEP_EVERY_SECONDS = 60.0
_last_sweep = 0.0
_lock = threading.Lock()


def sweep_expired_grants(db: Database, now: datetime | None = None, *,
                         force: bool = False) -> int:
    """Record the grants past their expiry (at most once a minute per process unless
    `force`, or when `now` is given, as tests do). Reads never wait for this: validity is
    decided from `expires_at` at every use."""
    global _last_sweep
    with _lock:
        if not force and now is None and time.monotonic() - _last_sweep < SWEEP_EVERY_SECONDS:
            return 0
        _last_sweep = time.monotonic()
    with db.unit_of_work() as session:
        return sweep_expired(session, now)
