"""SQLite writers queue in arrival order, in a process and between processes."""

from __future__ import annotations

import itertools
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


_TAKER = """
import os, sys, time
from fabriek.db.session import WriterLock
lock, log, start = WriterLock(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
for _ in range(30):
    assert lock.acquire(timeout=10)
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(0.01)  # a write transaction
    lock.release()  # and straight back for the next one
"""


def test_two_processes_take_turns(tmp_path: Path):
    """A process that has just committed does not take the lock again while the other waits
    (with one polled lock file it did, again and again)."""
    log = tmp_path / "order"
    start = time.time() + 0.5
    takers = [subprocess.Popen([sys.executable, "-c", _TAKER, str(tmp_path / "db.writer-lock"),
                                str(log), str(start)]) for _ in range(2)]
    assert [t.wait(timeout=60) for t in takers] == [0, 0]
    order = log.read_text().split()
    assert len(order) == 60
    # While both are taking (from the second one's first turn to the first one's last), the
    # lock alternates.
    first_of = {pid: order.index(pid) for pid in set(order)}
    last_of = {pid: len(order) - 1 - order[::-1].index(pid) for pid in set(order)}
    both = order[max(first_of.values()):min(last_of.values()) + 1]
    assert len(both) > 20, order  # one did not wait for the other to finish
    assert max(len(list(run)) for _, run in itertools.groupby(both)) <= 4, order
