"""The session's clean-up stops local-job supervisors left under its temporary directory, and
only those."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.jobs import stop_supervisors_under, supervisors_under

pytestmark = pytest.mark.unit


def _fake_supervisor(job_dir: Path) -> subprocess.Popen[bytes]:
    # The same argv shape as LocalExecutor's: python -I .../local_supervisor.py <job_dir> ...
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                             "/opt/x/local_supervisor.py", str(job_dir), "1", "3"])


def test_supervisors_under_the_session_are_stopped_and_others_left(tmp_path: Path) -> None:
    ours = _fake_supervisor(tmp_path / "session" / "jobs" / "local-1-1")
    theirs = _fake_supervisor(tmp_path / "elsewhere" / "jobs" / "local-2-1")
    try:
        deadline = time.monotonic() + 10
        while ours.pid not in supervisors_under(tmp_path / "session"):
            assert time.monotonic() < deadline, "the supervisor was not found"
            time.sleep(0.05)

        assert stop_supervisors_under(tmp_path / "session") == [ours.pid]

        assert ours.wait(5) != 0  # ended by SIGTERM
        assert theirs.poll() is None
        assert supervisors_under(tmp_path / "session") == []
    finally:
        for process in (ours, theirs):
            process.kill()
            process.wait()
