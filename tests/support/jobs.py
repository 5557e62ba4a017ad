"""Local jobs must not outlive the tests that started them.

A local job's supervisor is detached on purpose (a job survives the server that launched it),
so a test that stops its server with a job still running leaves the job behind: the e2e
pre-emption test's `sleep 600` ran on for minutes after the suite. At the end of the session
every supervisor whose job directory lies under this session's temporary directory is sent
SIGTERM, which makes it stop its job (local_supervisor.py), and waited for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

SUPERVISOR = "local_supervisor.py"


def supervisors_under(base: Path) -> list[int]:
    """Pids of local-job supervisors whose job directory is under `base` (Linux /proc)."""
    root = str(base.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            args = [a.decode(errors="replace") for a in argv if a]
            if any(a.endswith(SUPERVISOR) for a in args) and any(
                a.startswith(root + os.sep) for a in args
            ):
                found.append(int(entry.name))
    return found


def stop_supervisors_under(base: Path, timeout: float = 15.0) -> list[int]:
    """SIGTERM every supervisor under `base` and wait for them; returns their pids."""
    pids = supervisors_under(base)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return pids


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for its parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
