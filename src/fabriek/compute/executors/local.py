"""LocalExecutor: real processes on this machine, with a fixed number of GPU slots.

Spool layout (everything the executor knows lives here, so any process can pick it up):

    <spool>/lock                 flock: one tick/submit/cancel at a time, across processes
    <spool>/next-id              counter for external ids and submission order
    <spool>/active/<ext_id>      empty marker per job not yet final (what tick() scans)
    <spool>/jobs/<ext_id>/
        job.json                 the ExecutorJob as submitted (written once)
        script.sh                the batch script
        state.json               queued/running/final, GPU ids, attempt, pending request
        stdout, stderr           appended across attempts (a marker line per requeue)
        work/                    FABRIEK_JOB_DIR, the job's working directory
        work/datasets/<slug>/    the job's datasets, read-only and verified before the job
                                 is queued (FABRIEK_DATASETS_DIR; compute.executors.staging)
        run-<n>/                 one per start: launch.json, alive (flock held by the
                                 supervisor), started.json, control, result.json,
                                 supervisor.log

state.json is written only by this module and only under the spool lock; the supervisor of a
run writes only inside its run-<n>/ directory. tick() folds a run's result.json into state.json.
Every file is replaced atomically (temporary file + os.replace).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors import local_supervisor as supervisor
from fabriek.compute.executors import staging
from fabriek.compute.executors.base import (
    ExecutorJob,
    JobRejected,
    JobSnapshot,
    Stream,
    UnknownJob,
)

_EXTERNAL_ID = re.compile(r"^local-(\d+)-(\d+)$")
_FINAL = {"completed", "failed", "cancelled", "timeout"}
# Supervisors launched by this process; polled so they do not linger as zombies here.
_launched: list[subprocess.Popen[bytes]] = []


class LocalExecutor:
    """Runs jobs as detached, supervised process groups; an ordered queue over GPU slots.

    `time_scale` is a test knob: a job's limit is time_limit_minutes * 60 / time_scale seconds,
    so tests exercise the real ExecutorJob field with a limit of a second or so (whole minutes
    are the smallest limit a JobSpec can carry). Leave it at 1.0 everywhere else.
    """

    name = "local"

    def __init__(self, spool_dir: Path, gpu_slots: int = 4, *, grace_seconds: float = 5.0,
                 time_scale: float = 1.0) -> None:
        if gpu_slots < 0 or grace_seconds < 0 or time_scale <= 0:
            raise ValueError("gpu_slots and grace_seconds must be >= 0, time_scale > 0")
        self.spool = Path(spool_dir)
        self.gpu_slots = gpu_slots
        self.grace_seconds = grace_seconds
        self.time_scale = time_scale
        for sub in ("jobs", "active"):
            (self.spool / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- the Executor protocol ------------------------------------------------------------

    def submit(self, job: ExecutorJob) -> str:
        if job.gpus < 0 or job.gpus > self.gpu_slots:
            raise JobRejected(f"job {job.job_id} needs {job.gpus} GPUs; this machine has "
                              f"{self.gpu_slots} GPU slots")
        if job.nodes != 1:
            raise JobRejected(f"job {job.job_id} needs {job.nodes} nodes; the local executor "
                              "runs on one")
        if job.time_limit_minutes < 1:
            raise JobRejected(f"job {job.job_id} has no time limit")
        # Built aside and renamed into place: a crash leaves a whole job or none. The
        # datasets are staged into it first, outside the spool lock (a copy may take a
        # while), and verified; a job whose datasets fail never enters the queue.
        tmp = self.spool / "jobs" / f".new-{int(job.job_id)}-{secrets.token_hex(6)}"
        (tmp / "work").mkdir(parents=True)
        try:
            if job.datasets:
                # A copy, not a hard link: local jobs run as the broker's own user, who could
                # chmod a linked file and so alter the stored blob for every later reader.
                staging.place(job.datasets, tmp / "work" / "datasets", link=False)
        except BaseException:
            staging.remove(tmp)
            raise
        with self._locked():
            seq = self._next_seq()
            ext_id = f"local-{job.job_id}-{seq}"
            record = {**{f.name: getattr(job, f.name) for f in fields(job)},
                      "env": dict(job.env), "datasets": staging.to_json(job.datasets),
                      "external_id": ext_id, "seq": seq,
                      "submitted_at": supervisor.now_iso(),
                      "time_limit_seconds": job.time_limit_minutes * 60 / self.time_scale}
            # The marker comes first; tick() drops a marker whose job never arrived.
            supervisor.write_json(tmp / "job.json", record)
            (tmp / "script.sh").write_text(job.script, encoding="utf-8")
            (tmp / "stdout").touch()
            (tmp / "stderr").touch()
            supervisor.write_json(tmp / "state.json", _new_state())
            (self.spool / "active" / ext_id).touch()
            os.rename(tmp, self._dir(ext_id))
            self._tick_locked()
        return ext_id

    def find(self, job_id: int) -> JobSnapshot | None:
        found = [m for p in (self.spool / "jobs").glob(f"local-{int(job_id)}-*")
                 if (m := _EXTERNAL_ID.match(p.name)) and int(m.group(1)) == job_id]
        if not found:
            return None
        latest = max(found, key=lambda m: int(m.group(2))).group(0)
        return self._snapshot(latest)

    def poll(self, external_ids: Sequence[str]) -> dict[str, JobSnapshot]:
        self.tick()
        snapshots = {ext_id: self._snapshot(ext_id) for ext_id in external_ids}
        return {ext_id: snap for ext_id, snap in snapshots.items() if snap is not None}

    def cancel(self, external_id: str) -> None:
        self._stop(external_id, "cancel")

    def requeue(self, external_id: str) -> None:
        self._stop(external_id, "requeue")

    def read_log(self, external_id: str, stream: Stream, offset: int = 0,
                 limit: int = 1 << 20) -> tuple[bytes, int]:
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"unknown stream {stream!r}")
        path = self._existing_dir(external_id) / stream
        with open(path, "rb") as fh:
            fh.seek(max(offset, 0))
            data = fh.read(max(limit, 0))
        return data, max(offset, 0) + len(data)

    def ping(self) -> bool:
        return True

    # -- scheduling ----------------------------------------------------------------------

    def tick(self) -> None:
        """Fold finished runs, notice lost supervisors, start what fits; safe to call anytime."""
        with self._locked():
            self._tick_locked()

    def _tick_locked(self) -> None:
        _launched[:] = [proc for proc in _launched if proc.poll() is None]
        jobs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for marker in (self.spool / "active").iterdir():
            job_dir = self._dir(marker.name)
            if not (job_dir / "state.json").exists():
                marker.unlink(missing_ok=True)  # a submit that crashed before its rename
                continue
            job, state = _read_json(job_dir / "job.json"), _read_json(job_dir / "state.json")
            if state["state"] == "running":
                state = self._check_running(job, state)
            if state["state"] in _FINAL:
                marker.unlink(missing_ok=True)
            else:
                jobs.append((job, state))

        busy = {gpu for _, state in jobs if state["state"] == "running"
                for gpu in state["gpu_ids"]}
        free = [gpu for gpu in range(self.gpu_slots) if gpu not in busy]
        queued = sorted((pair for pair in jobs if pair[1]["state"] == "queued"),
                        key=lambda pair: (-pair[0]["priority_rank"], pair[0]["seq"]))
        # Strict order: once the head of the queue does not fit, nobody overtakes it (no
        # starvation of wide jobs). A job without GPUs takes nothing the head waits for.
        blocked = False
        for job, state in queued:
            if job["gpus"] <= len(free) and (not blocked or job["gpus"] == 0):
                gpu_ids, free = free[:job["gpus"]], free[job["gpus"]:]
                self._start(job, state, gpu_ids)
                continue
            reason = "preempted" if state["preempted"] else (
                "Priority" if blocked else "Resources")
            blocked = True
            if state["reason"] != reason:
                self._write_state(job, {**state, "reason": reason})

    def _start(self, job: dict[str, Any], state: dict[str, Any], gpu_ids: list[int]) -> None:
        """Launch a supervisor for the next attempt; state says running before it exists."""
        attempt = state["attempt"] + 1
        run_dir = self._dir(job["external_id"]) / f"run-{attempt}"
        run_dir.mkdir(exist_ok=True)
        for stale in ("result.json", "started.json", "control"):  # from a launch that crashed
            (run_dir / stale).unlink(missing_ok=True)
        supervisor.write_json(run_dir / "launch.json", {
            "gpu_ids": gpu_ids, "time_limit_seconds": job["time_limit_seconds"],
            "grace_seconds": self.grace_seconds,
            # Unique per run across all spools on the machine: external ids repeat between
            # spools, and the sweep must never touch another spool's job.
            "marker": f"{job['external_id']}.{attempt}.{secrets.token_hex(8)}"})
        # Locked here and handed to the supervisor: from this moment until the supervisor
        # exits, "lock free and no result" can only mean the supervisor died.
        alive_fd = os.open(run_dir / "alive", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(alive_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Written before the launch: a crash in between reads as a lost supervisor
            # (failed), never as a queued job that would be started twice.
            self._write_state(job, {**state, "state": "running", "attempt": attempt,
                                    "gpu_ids": gpu_ids, "reason": "", "request": None,
                                    "started_at": None})
            with open(run_dir / "supervisor.log", "ab") as log:
                _launched.append(subprocess.Popen(
                    [sys.executable, "-I", supervisor.__file__,
                     str(self._dir(job["external_id"])), str(attempt), str(alive_fd)],
                    pass_fds=(alive_fd,), start_new_session=True,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        except OSError as exc:
            supervisor.write_json(run_dir / "result.json", {
                "outcome": "failed", "exit_code": None, "signal": None, "started_at": None,
                "ended_at": supervisor.now_iso(), "reason": f"could not start supervisor: {exc}"})
        finally:
            os.close(alive_fd)

    def _check_running(self, job: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        run_dir = self._dir(job["external_id"]) / f"run-{state['attempt']}"
        # Liveness first: a supervisor writes its result before it exits, so if it is gone
        # now, a result it wrote is visible to the read below.
        alive = _supervisor_alive(run_dir)
        result = _read_json(run_dir / "result.json", missing_ok=True)
        if result is None:
            if alive:
                return state
            # Killed without a word (SIGKILL, OOM killer, reboot): end what it left behind.
            marker = _read_json(run_dir / "launch.json")["marker"]
            for _ in range(50):
                supervisor.signal_run(None, marker, signal.SIGKILL)
                if not supervisor.run_alive(None, marker):
                    break
                time.sleep(0.01)
            result = {"outcome": "lost", "exit_code": None, "signal": None,
                      "started_at": None, "ended_at": supervisor.now_iso(),
                      "reason": "supervisor exited without recording a result; the job's "
                                "processes were killed"}
        return self._fold(job, state, run_dir, result)

    def _fold(self, job: dict[str, Any], state: dict[str, Any], run_dir: Path,
              result: dict[str, Any]) -> dict[str, Any]:
        """A run ended: decide the job's state from what was asked and what happened."""
        outcome, request = result["outcome"], state["request"]
        stopped = outcome in ("cancelled", "requeued", "lost")
        started = _read_json(run_dir / "started.json", missing_ok=True) or {}
        if request == "requeue" and stopped:
            new = {**state, "state": "queued", "preempted": True, "reason": "preempted",
                   "gpu_ids": [], "request": None, "started_at": None}
        else:
            if request == "cancel" and stopped:
                final, reason = "cancelled", "cancel requested"
            elif outcome == "lost":
                final, reason = "failed", result["reason"]
            else:
                final, reason = outcome, result["reason"]
            new = {**state, "state": final, "reason": reason, "request": None,
                   "started_at": result["started_at"] or started.get("started_at"),
                   "ended_at": result["ended_at"], "exit_code": result["exit_code"],
                   "signal": result["signal"]}
        self._write_state(job, new)
        return new

    def _stop(self, external_id: str, request: str) -> None:
        """Cancel or requeue: ask the supervisor, wait (bounded) for it, then fold the result."""
        job_dir = self._existing_dir(external_id)
        with self._locked():
            self._tick_locked()
            job, state = _read_json(job_dir / "job.json"), _read_json(job_dir / "state.json")
            if state["state"] == "queued":
                if request == "cancel":
                    self._write_state(job, {**state, "state": "cancelled",
                                            "reason": "cancelled while queued",
                                            "ended_at": supervisor.now_iso()})
                    (self.spool / "active" / external_id).unlink(missing_ok=True)
                return  # requeueing a queued job: it is where it should be
            if state["state"] != "running":
                return  # finished: nothing to stop
            # A pending cancel is not downgraded to a requeue; a cancel overrides a requeue.
            wanted = "cancel" if state["request"] == "cancel" else request
            self._write_state(job, {**state, "request": wanted})
            run_dir = job_dir / f"run-{state['attempt']}"
            (run_dir / "control.tmp").write_text(wanted)
            os.replace(run_dir / "control.tmp", run_dir / "control")
        # Outside the lock: other callers keep working while the job winds down.
        end = time.monotonic() + self.grace_seconds + 15
        while time.monotonic() < end:
            if (run_dir / "result.json").exists() or not _supervisor_alive(run_dir):
                break
            time.sleep(0.05)
        self.tick()

    # -- spool helpers -------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.spool / "lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _next_seq(self) -> int:
        path = self.spool / "next-id"
        seq = int(path.read_text()) if path.exists() else 1
        tmp = path.with_name(".next-id.tmp")
        tmp.write_text(str(seq + 1))
        os.replace(tmp, path)
        return seq

    def _dir(self, external_id: str) -> Path:
        return self.spool / "jobs" / external_id

    def _existing_dir(self, external_id: str) -> Path:
        job_dir = self._dir(external_id)
        if not _EXTERNAL_ID.match(external_id) or not (job_dir / "state.json").exists():
            raise UnknownJob(f"no local job {external_id!r}")
        return job_dir

    def _write_state(self, job: dict[str, Any], state: dict[str, Any]) -> None:
        supervisor.write_json(self._dir(job["external_id"]) / "state.json", state)

    def _snapshot(self, external_id: str) -> JobSnapshot | None:
        if not _EXTERNAL_ID.match(external_id):
            return None
        job_dir = self._dir(external_id)
        state = _read_json(job_dir / "state.json", missing_ok=True)
        if state is None:
            return None
        job = _read_json(job_dir / "job.json")
        started_at = state["started_at"]
        if state["state"] == "running":
            started = _read_json(job_dir / f"run-{state['attempt']}" / "started.json",
                                 missing_ok=True)
            started_at = started and started["started_at"]
        has_gpus = state["state"] == "running" or (state["state"] in _FINAL and state["attempt"])
        return JobSnapshot(
            external_id=external_id, state=ExternalState(state["state"]),
            submitted_at=_dt(job["submitted_at"]), started_at=_dt(started_at),
            ended_at=_dt(state["ended_at"]), exit_code=state["exit_code"],
            signal=state["signal"], gpus_allocated=len(state["gpu_ids"]) if has_gpus else None,
            gpu_ids=tuple(state["gpu_ids"]), reason=state["reason"])


def _new_state() -> dict[str, Any]:
    return {"state": "queued", "reason": "", "attempt": 0, "preempted": False, "gpu_ids": [],
            "request": None, "started_at": None, "ended_at": None, "exit_code": None,
            "signal": None}


def _supervisor_alive(run_dir: Path) -> bool:
    """The supervisor holds run-<n>/alive locked for its whole life; pid reuse cannot fool this."""
    try:
        fd = os.open(run_dir / "alive", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _read_json(path: Path, *, missing_ok: bool = False) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return None
        raise


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
