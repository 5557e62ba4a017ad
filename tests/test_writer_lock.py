"""SQLite writers queue in arrival order, in a process and between processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from fabriek.db.session import FairLock, WriterLock


def test_fair_lock_hands_over_in_arrival_order():
    lock, order = FairLock(), []
    assert lock.acquire(timeout=1)

    def waiter(i: int) -> None:
        assert lock.acquire(timeout=5)
        order.append(i)
        lock.release()

    threads = []
    for i in range(8):
        t = threading.Thread(target=waiter, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(0.02)  # arrive one after the other
    lock.release()
    for t in threads:
        t.join()
    assert order == list(range(8))


def test_fair_lock_times_out_and_stays_usable():
    lock = FairLock()
    assert lock.acquire(timeout=1)
    assert not lock.acquire(timeout=0.05)
    lock.release()
    assert lock.acquire(timeout=0.05)
    lock.release()


def test_writer_lock_excludes_another_process(tmp_path: Path):
    path = tmp_path / "db.writer-lock"
    lock = WriterLock(str(path))
    assert lock.acquire(timeout=1)
    probe = ("import sys; from fabriek.db.session import WriterLock; "
             "sys.exit(0 if WriterLock(sys.argv[1]).acquire(timeout=0.2) else 3)")
    held = subprocess.run([sys.executable, "-c", probe, str(path)], check=False)
    lock.release()
    free = subprocess.run([sys.executable, "-c", probe, str(path)], check=False)
    assert (held.returncode, free.returncode) == (3, 0)
