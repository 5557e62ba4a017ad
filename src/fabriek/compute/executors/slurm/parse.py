"""Slurm's job records -> JobSnapshot: pure functions, tolerant of version differences.

Three sources describe a job, each in more than one shape:
- slurmctld (REST /slurm/vX/job/{id}, jobs[]): v0.0.38 gives job_state as a string, times as epoch
  integers and exit_code as a raw wait status; v0.0.39 wraps numbers as {set, infinite, number};
  v0.0.40+ gives job_state as a list (base state + flags) and exit_code as
  {status, return_code, signal}.
- slurmdbd (REST /slurmdb/vX/job/{id}, jobs[]): state.current, time.*, exit_code, tres.allocated.
- sacct -P (the CLI fall-back): one row of named columns, times as epoch (SLURM_TIME_FORMAT=%s).
Each function reads a field only if it is there and in a shape it knows; anything missing
becomes None rather than an error, so a new field or version degrades to less detail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors.base import JobSnapshot

COMMENT_PREFIX = "fabriek:job="
# An installation's namespace keeps two platforms (or one rebuilt from scratch, whose job ids
# start again at 1) from adopting each other's jobs: `fabriek:<namespace>:job=<id>`.
_COMMENT = re.compile(r"(?:^|[\s,;])fabriek(?::([A-Za-z0-9_-]{1,40}))?:job=(\d+)(?=$|[\s,;])")

# Base states (job_state_string in slurm/slurm.h) and what they mean for us. COMPLETING,
# CONFIGURING, REQUEUED... are flags: a string in v0.0.38 (squeue shows the flag instead of
# the base state), an extra list item from v0.0.40.
BASE_STATES: Mapping[str, ExternalState] = {
    "PENDING": ExternalState.queued,
    "RUNNING": ExternalState.running,
    "SUSPENDED": ExternalState.running,  # still holds its allocation; resumes in place
    "COMPLETED": ExternalState.completed,
    "CANCELLED": ExternalState.cancelled,
    "FAILED": ExternalState.failed,
    "TIMEOUT": ExternalState.timeout,
    "NODE_FAIL": ExternalState.failed,
    "PREEMPTED": ExternalState.preempted,
    "BOOT_FAIL": ExternalState.failed,
    "DEADLINE": ExternalState.timeout,
    "OUT_OF_MEMORY": ExternalState.failed,
}
# Flags that decide the state whatever the base state is, strongest first.
FLAG_STATES: tuple[tuple[str, ExternalState], ...] = (
    ("COMPLETING", ExternalState.running),  # processes are still being cleaned up
    ("REQUEUED", ExternalState.preempted),  # being put back in the queue
    ("REQUEUE_FED", ExternalState.preempted),
    ("REQUEUE_HOLD", ExternalState.preempted),
    ("SPECIAL_EXIT", ExternalState.failed),
    ("CONFIGURING", ExternalState.queued),  # allocated, nodes still booting: not started
    ("RESV_DEL_HOLD", ExternalState.queued),
    ("REVOKED", ExternalState.cancelled),  # federation: another cluster runs it
    ("STOPPED", ExternalState.running),
    ("SIGNALING", ExternalState.running),
    ("STAGE_OUT", ExternalState.running),
)
FINAL = frozenset({ExternalState.completed, ExternalState.failed, ExternalState.cancelled,
                   ExternalState.timeout})


# --------------------------------------------------------------------------- small values
def comment_for(job_id: int, namespace: str | None = None) -> str:
    """The job comment that carries our id (stored by slurmdbd with job_comment)."""
    return f"fabriek:{namespace}:job={job_id}" if namespace else f"{COMMENT_PREFIX}{job_id}"


def job_id_from_comment(comment: object, namespace: str | None = None) -> int | None:
    """Our id in a job comment, if the comment is ours (same namespace, or none for None)."""
    if isinstance(comment, Mapping):  # slurmdbd: {"job": ..., "administrator": ..., "system": ...}
        comment = comment.get("job")
    if not isinstance(comment, str):
        return None
    match = _COMMENT.search(comment)
    if match is None or match[1] != namespace:
        return None
    return int(match[2])


def no_val(value: object) -> int | None:
    """An integer, or {set, infinite, number} (v0.0.39+); None when unset or infinite."""
    if isinstance(value, Mapping):
        if not value.get("set", True) or value.get("infinite", False):
            return None
        value = value.get("number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def epoch(value: object) -> datetime | None:
    """Epoch seconds (plain or wrapped) as an aware UTC datetime; 0 and unset are None."""
    seconds = no_val(value)
    if not seconds or seconds < 0:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------------- state
def split_state(job_state: object) -> tuple[str, frozenset[str]]:
    """(base state, flags) from 'RUNNING', ['RUNNING', 'COMPLETING'] or 'CANCELLED by 0'."""
    if isinstance(job_state, str):
        words = [job_state.split()[0].upper()] if job_state.strip() else []
    elif isinstance(job_state, Iterable) and not isinstance(job_state, Mapping):
        words = [str(word).upper() for word in job_state]
    else:
        words = []
    base = next((word for word in words if word in BASE_STATES), "")
    flags = frozenset(word for word in words if word != base)
    if not base and flags:  # v0.0.38 strings show a flag alone ("COMPLETING", "REQUEUED")
        base = "RUNNING" if "COMPLETING" in flags or "STAGE_OUT" in flags else "PENDING"
    return base, flags


def map_state(job_state: object, restart_count: int = 0) -> ExternalState:
    """Slurm's state -> ours. A pending job that has run before (restart_cnt > 0) was
    pre-empted or requeued and is waiting to start again: preempted."""
    base, flags = split_state(job_state)
    for flag, state in FLAG_STATES:
        if flag in flags:
            return state
    if not base:
        raise ValueError(f"unknown Slurm job state {job_state!r}")
    state = BASE_STATES.get(base, ExternalState.queued)
    if state is ExternalState.queued and restart_count > 0:
        return ExternalState.preempted
    return state


# ---------------------------------------------------------------------------- exit codes
def decode_wait_status(status: int) -> tuple[int | None, int | None]:
    """A raw wait(2) status as slurmctld reports it up to v0.0.39: exit N is N << 8, death by
    signal S is S (plus 0x80 with a core dump). Returns (exit_code, signal)."""
    signal = status & 0x7F
    if signal:
        return None, signal
    return (status >> 8) & 0xFF, None


def decode_exit(value: object) -> tuple[int | None, int | None]:
    """(exit_code, signal) from any shape Slurm uses:
    - 768 or {"set": true, "number": 768} (raw wait status; v0.0.38/39 slurmctld)
    - {"status": ["EXITED"], "return_code": {...}, "signal": {"id": {...}, "name": ...}} (v0.0.40+)
    - {"status": "SIGNALED", "return_code": 0, "signal": {"signal_id": 15, "name": "TERM"}}
      (v0.0.38 slurmdbd)."""
    if not isinstance(value, Mapping) or "number" in value or "set" in value:
        raw = no_val(value)
        return (None, None) if raw is None else decode_wait_status(raw)
    status = value.get("status")
    statuses = {status} if isinstance(status, str) else set(status or ())
    statuses = {str(item).upper() for item in statuses}
    signal_info = value.get("signal")
    signal = None
    if isinstance(signal_info, Mapping):
        signal = no_val(signal_info.get("id", signal_info.get("signal_id")))
    if statuses & {"SIGNALED", "CORE_DUMPED"} and signal:
        return None, signal
    if statuses & {"PENDING", "INVALID"}:
        return None, None
    return no_val(value.get("return_code")), None


# ---------------------------------------------------------------------------------- GPUs
_IDX = re.compile(r"\(IDX:([^)]*)\)")
_TRES_GPU = re.compile(r"(?:^|,)gres/gpu(?::[^=,]+)?=(\d+)")
_TRES_GPU_UNTYPED = re.compile(r"(?:^|,)gres/gpu=(\d+)")
_PER_NODE_GPU = re.compile(r"(?:^|,)(?:gres[:/])?gpu(?::[A-Za-z][^:,]*)?:(\d+)")


def gpu_ids(gres_detail: object) -> tuple[int, ...]:
    """['gpu:2(IDX:0-1)'] or ['gpu:a100:3(IDX:0,2-3)'] -> (0, 1) / (0, 2, 3). Only while
    the job runs; the indices are those of its batch node."""
    if not isinstance(gres_detail, list) or not gres_detail:
        return ()
    match = _IDX.search(str(gres_detail[0]))
    if not match or match[1] in ("", "N/A"):
        return ()
    ids: list[int] = []
    for part in match[1].split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            ids.extend(range(int(low), int(high or low) + 1))
    return tuple(ids)


def gpus_in_tres(tres: object) -> int | None:
    """'cpu=1,mem=1G,node=1,billing=1,gres/gpu=2' -> 2 (the untyped total if present)."""
    text = _text(tres)
    untyped = _TRES_GPU_UNTYPED.findall(text)
    if untyped:
        return int(untyped[0])
    typed = _TRES_GPU.findall(text)
    return sum(int(count) for count in typed) if typed else None


def gpus_per_node_spec(spec: object) -> int | None:
    """tres_per_node 'gres:gpu:2' (22.05) / 'gres/gpu:2' (23.02+) / 'gres/gpu:a100:2' -> 2."""
    found = _PER_NODE_GPU.findall(_text(spec))
    return sum(int(count) for count in found) if found else None


def _gpus_from_tres_list(entries: object) -> int | None:
    """slurmdbd tres.allocated: [{"type": "gres", "name": "gpu", "count": 2}, ...]."""
    if not isinstance(entries, list):
        return None
    untyped = [e for e in entries if isinstance(e, Mapping) and e.get("type") == "gres"
               and e.get("name") == "gpu"]
    typed = [e for e in entries if isinstance(e, Mapping) and e.get("type") == "gres"
             and str(e.get("name", "")).startswith("gpu:")]
    chosen = untyped or typed
    if not chosen:
        return None
    return sum(no_val(e.get("count")) or 0 for e in chosen)


# ------------------------------------------------------------------------------ records
def job_snapshot(job: Mapping[str, Any]) -> JobSnapshot:
    """A slurmctld job record (REST /slurm/vX/job/{id} -> jobs[i]) as a snapshot."""
    restarts = no_val(job.get("restart_cnt")) or 0
    state = map_state(job.get("job_state"), restarts)
    started_at = epoch(job.get("start_time"))
    if state in (ExternalState.queued, ExternalState.preempted):
        started_at = None  # start_time of a pending job is a backfill estimate
    elif state in FINAL and job.get("tres_alloc_str") == "":
        started_at = None  # never allocated (cancelled while pending): start_time = end_time
    ended_at = epoch(job.get("end_time")) if state in FINAL else None  # running: start+limit
    exit_code = signal = None
    if state in FINAL and started_at is not None:
        exit_code, signal = _meaningful(state, *decode_exit(job.get("exit_code")))
    gpus = None
    if started_at is not None:
        gpus = (gpus_in_tres(job.get("tres_alloc_str"))
                or _per_node_total(job.get("tres_per_node"), job.get("node_count")))
    return JobSnapshot(
        external_id=str(job.get("job_id", "")),
        state=state,
        submitted_at=epoch(job.get("submit_time")),
        started_at=started_at,
        ended_at=ended_at,
        exit_code=exit_code,
        signal=signal,
        gpus_allocated=gpus,
        gpu_ids=gpu_ids(job.get("gres_detail")),
        reason=_reason(job.get("state_reason")),
    )


def _meaningful(state: ExternalState, exit_code: int | None, signal: int | None
                ) -> tuple[int | None, int | None]:
    """A cancelled job's exit status says nothing unless a signal ended it."""
    if state is ExternalState.cancelled and signal is None:
        return None, None
    return exit_code, signal


def db_job_snapshot(job: Mapping[str, Any]) -> JobSnapshot:
    """A slurmdbd job record (REST /slurmdb/vX/job/{id} -> jobs[i]) as a snapshot."""
    state_info = _mapping(job.get("state"))
    time_info = _mapping(job.get("time"))
    state = map_state(state_info.get("current"))
    started_at = epoch(time_info.get("start"))
    exit_code = signal = None
    if state in FINAL and started_at is not None:
        exit_code, signal = _meaningful(state, *decode_exit(job.get("exit_code")))
        if state is not ExternalState.completed and exit_code == 0 and signal is None:
            # Slurm 22.05 dbv0.0.36-38 report {"status": "SUCCESS", "return_code": 0} for jobs
            # that exited non-zero or were killed at their time limit; only a COMPLETED job
            # really exited 0, for the others the code is unknown here (sacct has it).
            exit_code = None
    tres = _mapping(job.get("tres"))
    return JobSnapshot(
        external_id=str(job.get("job_id", "")),
        state=state,
        submitted_at=epoch(time_info.get("submission")),
        started_at=started_at if state not in (ExternalState.queued,) else None,
        ended_at=epoch(time_info.get("end")) if state in FINAL else None,
        exit_code=exit_code,
        signal=signal,
        gpus_allocated=_gpus_from_tres_list(tres.get("allocated")) if started_at else None,
        reason=_reason(state_info.get("reason")),
    )


def sacct_snapshot(row: Mapping[str, str]) -> JobSnapshot:
    """One `sacct -X -P` row (commands.Sacct) as a snapshot; times are epoch seconds."""
    state = map_state(row.get("State", ""))
    started_at = _epoch_text(row.get("Start"))
    exit_code = signal = None
    if state in FINAL and started_at is not None:
        exit_code, signal = _meaningful(state, *_sacct_exit(row.get("ExitCode", "")))
    return JobSnapshot(
        external_id=row.get("JobID", ""),
        state=state,
        submitted_at=_epoch_text(row.get("Submit")),
        started_at=started_at if state is not ExternalState.queued else None,
        ended_at=_epoch_text(row.get("End")) if state in FINAL else None,
        exit_code=exit_code,
        signal=signal,
        gpus_allocated=gpus_in_tres(row.get("AllocTRES")) if started_at else None,
        reason=_reason(row.get("Reason")),
    )


def squeue_snapshot(row: Mapping[str, str]) -> JobSnapshot:
    """One squeue row (commands.Squeue) as a snapshot; squeue knows no exit codes."""
    restarts = int(row["Restarts"]) if row.get("Restarts", "").isdigit() else 0
    state = map_state(row.get("State", ""), restarts)
    started_at = _epoch_text(row.get("Start"))
    if state in (ExternalState.queued, ExternalState.preempted):
        started_at = None
    return JobSnapshot(
        external_id=row.get("JobID", ""),
        state=state,
        submitted_at=_epoch_text(row.get("Submit")),
        started_at=started_at,
        ended_at=_epoch_text(row.get("End")) if state in FINAL else None,
        gpus_allocated=gpus_per_node_spec(row.get("TresPerNode")) if started_at else None,
        reason=_reason(row.get("Reason")),
    )


def _per_node_total(spec: object, node_count: object) -> int | None:
    per_node = gpus_per_node_spec(spec)
    if per_node is None:
        return None
    return per_node * (no_val(node_count) or 1)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _reason(value: object) -> str:
    text = _text(value)
    return "" if text in ("None", "(null)") else text


def _epoch_text(value: str | None) -> datetime | None:
    if value and value.isdigit():
        return epoch(int(value))
    return None


def _sacct_exit(text: str) -> tuple[int | None, int | None]:
    """sacct ExitCode 'N:S' (exit code, signal)."""
    code, _, sig = text.partition(":")
    if not code.isdigit():
        return None, None
    if sig.isdigit() and int(sig):
        return None, int(sig)
    return int(code), None


# ---------------------------------------------------------------------- other responses
def submitted_job_id(body: Mapping[str, Any]) -> str:
    """The job id of a POST .../job/submit reply."""
    job_id = no_val(body.get("job_id"))
    if not job_id:
        result = body.get("result")  # v0.0.41+ also report it under "result"
        job_id = no_val(result.get("job_id")) if isinstance(result, Mapping) else None
    if not job_id:
        raise ValueError("the submit reply has no job_id")
    return str(job_id)


def ping_ok(body: Mapping[str, Any]) -> bool:
    """v0.0.38: pings[].ping == 'UP'; v0.0.40+: pings[].pinged == 'UP' / responding."""
    pings = body.get("pings")
    if not isinstance(pings, list) or not pings:
        return False
    for ping in pings:
        if not isinstance(ping, Mapping):
            continue
        if ping.get("responding") is True or "UP" in (ping.get("ping"), ping.get("pinged")):
            return True
    return False
