"""Supervisor of one run of one local job: a detached process, stdlib only.

Started by LocalExecutor as `python -I local_supervisor.py <job_dir> <attempt> <alive_fd>` in a
session of its own, so the job outlives the process that launched it. It:

1. keeps an flock on `run-<n>/alive` (handed over already locked as <alive_fd>) for as long as
   it lives: the executor tells a dead supervisor from a live one by trying that lock, which
   cannot be fooled by pid reuse;
2. runs `bash script.sh` in a new session and process group, stdout/stderr appended to the job's
   files, environment built from an allow-list (the launching service's secrets stay out);
3. enforces the time limit and obeys `run-<n>/control` ("cancel" or "requeue"): SIGTERM to the
   whole group, SIGKILL after the grace period;
4. when the main process ends, kills whatever the job left behind, so its GPU slots are free;
5. writes `run-<n>/result.json` atomically and exits, which releases the lock.

Processes of the run also carry FABRIEK_LOCAL_RUN=<marker> in their environment, so one that
left the process group (setsid) is still found; the executor uses the same sweep when a
supervisor died without a result.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MARKER_VAR = "FABRIEK_LOCAL_RUN"
# What a job inherits from the host; anything else (database URLs, tokens) stays out.
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
              "TMPDIR", "FABRIEK_CONTAINER_RUNTIME")
TICK_SECONDS = 0.1
PR_SET_CHILD_SUBREAPER = 36


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic: readers see the old file or the new one, never half of either."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def marked_pids(marker: str) -> Iterator[int]:
    """Processes whose environment carries this run's marker (Linux /proc; none elsewhere)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    yield int(entry)
        except OSError:  # gone, or not ours to read
            continue


def signal_run(pgid: int | None, marker: str, signum: int) -> None:
    """Send `signum` to the run's process group and to every marked process outside it."""
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
    for pid in marked_pids(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def run_alive(pgid: int | None, marker: str) -> bool:
    if pgid is not None:
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            pass
        except PermissionError:
            return True
    return next(marked_pids(marker), None) is not None


class Reaper:
    """Collects exit statuses of our children and of orphans handed to us as subreaper."""

    def __init__(self) -> None:
        self.main_pid: int | None = None
        self.main_status: int | None = None

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.main_pid:
                self.main_status = status


class Supervisor:
    def __init__(self, job_dir: Path, attempt: int) -> None:
        self.job_dir = job_dir
        self.run_dir = job_dir / f"run-{attempt}"
        self.attempt = attempt
        self.launch = json.loads((self.run_dir / "launch.json").read_text())
        self.job = json.loads((job_dir / "job.json").read_text())
        self.marker: str = self.launch["marker"]
        self.reaper = Reaper()
        self.pgid: int | None = None
        self.terminated = False
        self.started_at: str | None = None

    def on_sigterm(self, signum: int, frame: object) -> None:
        self.terminated = True

    def request(self) -> str | None:
        try:
            text = (self.run_dir / "control").read_text().strip()
        except FileNotFoundError:
            return None
        return text if text in ("cancel", "requeue") else None

    def environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        env.update(self.job.get("env") or {})
        env.update({
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in self.launch["gpu_ids"]),
            "FABRIEK_JOB_DIR": str(self.job_dir / "work"),
            MARKER_VAR: self.marker,
        })
        if self.job.get("datasets"):
            env["FABRIEK_DATASETS_DIR"] = str(self.job_dir / "work" / "datasets")
        return env

    def mark_logs(self) -> None:
        """A requeued job starts from scratch; its earlier output stays above this line."""
        if self.attempt <= 1:
            return
        for name in ("stdout", "stderr"):
            with open(self.job_dir / name, "ab+") as fh:
                fh.seek(0, os.SEEK_END)
                newline = b""
                if fh.tell():
                    fh.seek(-1, os.SEEK_END)
                    newline = b"" if fh.read(1) == b"\n" else b"\n"
                fh.write(newline + f"----- fabriek: requeued; attempt {self.attempt} starts "
                                   f"here at {now_iso()} -----\n".encode())

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM the whole run, SIGKILL what is left after the grace period, wait it out."""
        signal_run(self.pgid, self.marker, signal.SIGTERM)
        end = time.monotonic() + grace_seconds
        while time.monotonic() < end:
            self.reaper.reap()
            if not run_alive(self.pgid, self.marker):
                break
            time.sleep(0.02)
        self.kill_rest()

    def kill_rest(self) -> None:
        end = time.monotonic() + 10
        while True:
            self.reaper.reap()
            if not run_alive(self.pgid, self.marker) or time.monotonic() > end:
                break
            signal_run(self.pgid, self.marker, signal.SIGKILL)
            time.sleep(0.02)
        self.reaper.reap()

    def run(self) -> dict[str, Any]:
        time_limit = float(self.launch["time_limit_seconds"])
        grace = float(self.launch["grace_seconds"])
        early = self.request()
        if early is not None or self.terminated:
            return self.result({"cancel": "cancelled", "requeue": "requeued"}.get(
                early or "", "failed"), None, reason="stopped before it started")
        self.mark_logs()
        (self.job_dir / "work").mkdir(exist_ok=True)
        with open(self.job_dir / "stdout", "ab") as out, open(self.job_dir / "stderr", "ab") as err:
            proc = subprocess.Popen(
                ["/bin/bash", str(self.job_dir / "script.sh")], cwd=self.job_dir / "work",
                env=self.environment(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True)
        self.pgid = self.reaper.main_pid = proc.pid
        self.started_at = now_iso()
        write_json(self.run_dir / "started.json", {
            "pid": proc.pid, "supervisor_pid": os.getpid(), "started_at": self.started_at})

        deadline = time.monotonic() + time_limit
        outcome: str | None = None  # set when we stop the job rather than it ending itself
        reason = ""
        while True:
            self.reaper.reap()
            if self.reaper.main_status is not None:
                break
            wanted = self.request()
            if wanted is not None:
                outcome = "cancelled" if wanted == "cancel" else "requeued"
                reason = f"{wanted} requested"
            elif self.terminated:
                outcome, reason = "failed", "supervisor received SIGTERM (host shutting down?)"
            elif time.monotonic() >= deadline:
                outcome, reason = "timeout", f"time limit of {time_limit:g} s reached"
            if outcome is not None:
                self.stop(grace)
                break
            time.sleep(TICK_SECONDS)
        # The main process is done; anything it left running would hold its GPU slots.
        self.kill_rest()
        proc.returncode = self.reaper.main_status  # reaped by us, not by Popen
        return self.result(outcome, self.reaper.main_status, reason=reason)

    def result(self, outcome: str | None, status: int | None, *, reason: str) -> dict[str, Any]:
        exit_code = signum = None
        if status is not None and os.WIFEXITED(status):
            exit_code = os.WEXITSTATUS(status)
        elif status is not None and os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
        if outcome is None:
            outcome = "completed" if exit_code == 0 else "failed"
            if signum is not None:
                reason = f"killed by signal {signum}"
            elif exit_code:
                reason = f"exit code {exit_code}"
        return {"outcome": outcome, "exit_code": exit_code, "signal": signum,
                "started_at": self.started_at, "ended_at": now_iso(), "reason": reason}


def become_subreaper() -> None:
    """Orphaned grandchildren come to us, so we reap them and see them go (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    job_dir, attempt, alive_fd = Path(argv[0]), int(argv[1]), int(argv[2])
    os.set_inheritable(alive_fd, False)  # the job must not keep our liveness lock
    supervisor = Supervisor(job_dir, attempt)
    signal.signal(signal.SIGTERM, supervisor.on_sigterm)
    become_subreaper()
    try:
        result = supervisor.run()
    except Exception as exc:
        supervisor.kill_rest()
        result = supervisor.result("failed", None, reason=f"supervisor error: {exc!r}")
        write_json(supervisor.run_dir / "result.json", result)
        raise
    write_json(supervisor.run_dir / "result.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
