"""Slurm job records -> JobSnapshot: recorded v0.0.38 replies, schema-written v0.0.40/41 ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors.slurm import parse
from tests.compute.executors.slurm.conftest import job_record, load

pytestmark = pytest.mark.unit

NEW = ["v0.0.40", "v0.0.41"]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# ------------------------------------------------------------------- v0.0.38, recorded
def test_running_gpu_job_v38_has_gpus_and_ids() -> None:
    snap = parse.job_snapshot(job_record("v0.0.38", "job_running_gpu"))
    assert snap.state is ExternalState.running
    assert snap.gpus_allocated == 2
    assert snap.gpu_ids == (0, 1)
    assert snap.started_at == at(1795280071)
    assert snap.ended_at is None  # end_time of a running job is start + limit
    assert snap.exit_code is None


def test_completed_job_v38_exit_0() -> None:
    snap = parse.job_snapshot(job_record("v0.0.38", "job_completed"))
    assert (snap.state, snap.exit_code, snap.signal) == (ExternalState.completed, 0, None)
    assert snap.ended_at == at(1795280079)
    assert snap.gpus_allocated == 2
    assert snap.gpu_ids == ()  # gres_detail only while running


def test_failed_job_v38_decodes_wait_status_768_as_exit_3() -> None:
    snap = parse.job_snapshot(job_record("v0.0.38", "job_failed_exit3"))
    assert (snap.state, snap.exit_code, snap.signal) == (ExternalState.failed, 3, None)
    assert snap.reason == "NonZeroExitCode"


def test_timeout_job_v38_killed_by_sigterm() -> None:
    snap = parse.job_snapshot(job_record("v0.0.38", "job_timeout"))
    assert (snap.state, snap.exit_code, snap.signal) == (ExternalState.timeout, None, 15)
    assert snap.reason == "TimeLimit"


def test_cancelled_running_job_v38_reports_the_signal() -> None:
    snap = parse.job_snapshot(job_record("v0.0.38", "job_cancelled_running"))
    assert (snap.state, snap.exit_code, snap.signal) == (ExternalState.cancelled, None, 15)


def test_cancelled_pending_job_v38_never_started() -> None:
    snap = parse.job_snapshot(job_record("v0.0.38", "job_cancelled_pending"))
    assert snap.state is ExternalState.cancelled
    assert (snap.started_at, snap.exit_code, snap.signal, snap.gpus_allocated) == (
        None, None, None, None)


def test_pending_jobs_v38_are_queued_with_reason() -> None:
    budget = parse.job_snapshot(job_record("v0.0.38", "job_pending_budget"))
    assert (budget.state, budget.reason) == (ExternalState.queued, "AssocGrpGRESMinutes")
    assert (budget.started_at, budget.gpus_allocated) == (None, None)
    assert parse.job_snapshot(job_record("v0.0.38", "job_pending")).reason == ""


def test_requeued_after_preemption_v38_is_preempted() -> None:
    snap = parse.job_snapshot(job_record("v0.0.38", "job_requeued_preempted"))
    assert (snap.state, snap.reason, snap.started_at) == (
        ExternalState.preempted, "BeginTime", None)


def test_jobs_listing_v38_parses_every_record() -> None:
    jobs = load("v0.0.38", "jobs")["body"]["jobs"]
    snaps = [parse.job_snapshot(job) for job in jobs]
    assert len(snaps) == len(jobs) > 10
    assert {snap.external_id for snap in snaps} == {str(job["job_id"]) for job in jobs}


def test_db_completed_v38_gpus_from_tres_allocated() -> None:
    snap = parse.db_job_snapshot(job_record("v0.0.38", "db_job_completed"))
    assert (snap.state, snap.exit_code, snap.gpus_allocated) == (ExternalState.completed, 0, 2)
    assert snap.ended_at is not None


def test_db_failed_v38_exit_code_is_unknown_not_zero() -> None:
    # Slurm 22.05's slurmdb REST reports SUCCESS/0 for a job that exited 3
    snap = parse.db_job_snapshot(job_record("v0.0.38", "db_job_failed_exit3"))
    assert (snap.state, snap.exit_code, snap.signal) == (ExternalState.failed, None, None)


def test_db_timeout_and_cancelled_v38() -> None:
    assert parse.db_job_snapshot(job_record("v0.0.38", "db_job_timeout")).state \
        is ExternalState.timeout
    cancelled = parse.db_job_snapshot(job_record("v0.0.38", "db_job_cancelled"))
    assert (cancelled.state, cancelled.exit_code) == (ExternalState.cancelled, None)


def test_comment_carries_our_job_id_v38() -> None:
    assert parse.job_id_from_comment(job_record("v0.0.38", "job_completed")["comment"]) == 78
    assert parse.job_id_from_comment(job_record("v0.0.38", "db_job_completed")["comment"]) == 78


# ------------------------------------------------------- v0.0.40 / v0.0.41, from the schema
@pytest.mark.parametrize("version", NEW)
def test_running_gpu_job_new_versions(version: str) -> None:
    snap = parse.job_snapshot(job_record(version, "job_running_gpu"))
    assert (snap.state, snap.gpus_allocated, snap.gpu_ids) == (ExternalState.running, 2, (0, 1))
    assert snap.submitted_at == at(1795280000)
    assert snap.started_at == at(1795280010)


@pytest.mark.parametrize("version", NEW)
@pytest.mark.parametrize(("name", "state", "exit_code", "signal"), [
    ("job_completed", ExternalState.completed, 0, None),
    ("job_failed_exit3", ExternalState.failed, 3, None),
    ("job_timeout", ExternalState.timeout, None, 15),
    ("job_cancelled_running", ExternalState.cancelled, None, 15),
])
def test_final_jobs_new_versions(version: str, name: str, state: ExternalState,
                                 exit_code: int | None, signal: int | None) -> None:
    snap = parse.job_snapshot(job_record(version, name))
    assert (snap.state, snap.exit_code, snap.signal) == (state, exit_code, signal)
    assert snap.ended_at is not None


@pytest.mark.parametrize("version", NEW)
def test_state_lists_new_versions(version: str) -> None:
    assert parse.job_snapshot(job_record(version, "job_completing")).state \
        is ExternalState.running
    assert parse.job_snapshot(job_record(version, "job_pending")).state is ExternalState.queued
    assert parse.job_snapshot(job_record(version, "job_requeued_preempted")).state \
        is ExternalState.preempted
    budget = parse.job_snapshot(job_record(version, "job_pending_budget"))
    assert budget.reason == "AssocGrpGRESMinutes"


@pytest.mark.parametrize("version", NEW)
def test_db_failed_new_versions_keeps_exit_code(version: str) -> None:
    snap = parse.db_job_snapshot(job_record(version, "db_job_failed_exit3"))
    assert (snap.state, snap.exit_code, snap.gpus_allocated) == (ExternalState.failed, 3, 2)


@pytest.mark.parametrize("version", ["v0.0.38", *NEW])
def test_submitted_job_id(version: str) -> None:
    body = load(version, "submit_ok")["body"]
    assert parse.submitted_job_id(body) == str(body["job_id"])


def test_submitted_job_id_from_result_v41() -> None:
    body = load("v0.0.41", "submit_ok")["body"]
    assert parse.submitted_job_id({"result": body["result"]}) == "4110"
    with pytest.raises(ValueError, match="no job_id"):
        parse.submitted_job_id({"job_id": 0})


@pytest.mark.parametrize("version", ["v0.0.38", *NEW])
def test_ping_ok(version: str) -> None:
    assert parse.ping_ok(load(version, "ping")["body"]) is True
    assert parse.ping_ok({"pings": []}) is False


# ------------------------------------------------------------------------- pieces
@pytest.mark.parametrize(("job_state", "restarts", "expected"), [
    ("PENDING", 0, ExternalState.queued),
    ("CONFIGURING", 0, ExternalState.queued),
    (["RUNNING", "CONFIGURING"], 0, ExternalState.queued),
    ("RUNNING", 0, ExternalState.running),
    ("COMPLETING", 0, ExternalState.running),
    (["CANCELLED", "COMPLETING"], 0, ExternalState.running),
    ("SUSPENDED", 0, ExternalState.running),
    ("COMPLETED", 0, ExternalState.completed),
    ("FAILED", 0, ExternalState.failed),
    ("NODE_FAIL", 0, ExternalState.failed),
    ("OUT_OF_MEMORY", 0, ExternalState.failed),
    ("BOOT_FAIL", 0, ExternalState.failed),
    ("CANCELLED", 0, ExternalState.cancelled),
    ("CANCELLED by 1000", 0, ExternalState.cancelled),  # sacct
    ("TIMEOUT", 0, ExternalState.timeout),
    ("DEADLINE", 0, ExternalState.timeout),
    ("PREEMPTED", 0, ExternalState.preempted),
    ("REQUEUED", 0, ExternalState.preempted),
    (["PENDING", "REQUEUED"], 1, ExternalState.preempted),
    ("PENDING", 1, ExternalState.preempted),
    (["RUNNING"], 2, ExternalState.running),
])
def test_map_state(job_state: object, restarts: int, expected: ExternalState) -> None:
    assert parse.map_state(job_state, restarts) is expected


def test_map_state_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="unknown Slurm job state"):
        parse.map_state(None)


@pytest.mark.parametrize(("raw", "expected"), [
    (0, (0, None)), (768, (3, None)), (1792, (7, None)), (255 << 8, (255, None)),
    (15, (None, 15)), (9, (None, 9)), (0x80 | 11, (None, 11)),
])
def test_decode_wait_status(raw: int, expected: tuple[int | None, int | None]) -> None:
    assert parse.decode_wait_status(raw) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (768, (3, None)),
    ({"set": True, "infinite": False, "number": 768}, (3, None)),  # v0.0.39
    ({"set": False, "infinite": False, "number": 0}, (None, None)),
    ({"status": ["ERROR"], "return_code": {"set": True, "number": 3}}, (3, None)),
    ({"status": ["SIGNALED"], "return_code": {"set": True, "number": 0},
      "signal": {"id": {"set": True, "number": 9}, "name": "SIGKILL"}}, (None, 9)),
    ({"status": "SIGNALED", "return_code": 0, "signal": {"signal_id": 15, "name": "TERM"}},
     (None, 15)),
    ({"status": ["PENDING"]}, (None, None)),
    (None, (None, None)),
])
def test_decode_exit_every_shape(value: object, expected: tuple[int | None, int | None]) -> None:
    assert parse.decode_exit(value) == expected


@pytest.mark.parametrize(("detail", "ids"), [
    (["gpu:2(IDX:0-1)"], (0, 1)), (["gpu:a100:3(IDX:0,2-3)"], (0, 2, 3)),
    (["gpu:4(IDX:0-3)", "gpu:4(IDX:0-3)"], (0, 1, 2, 3)), (["gpu:0(IDX:N/A)"], ()), ([], ()),
    (None, ()),
])
def test_gpu_ids(detail: object, ids: tuple[int, ...]) -> None:
    assert parse.gpu_ids(detail) == ids


@pytest.mark.parametrize(("tres", "count"), [
    ("cpu=1,mem=1G,node=1,billing=1,gres/gpu=2", 2),
    ("cpu=8,gres/gpu=8,gres/gpu:a100=8", 8),
    ("cpu=8,gres/gpu:a100=4,gres/gpu:h100=2", 6),
    ("cpu=1,mem=256M,node=1,billing=1", None), ("", None), (None, None),
])
def test_gpus_in_tres(tres: object, count: int | None) -> None:
    assert parse.gpus_in_tres(tres) == count


@pytest.mark.parametrize(("spec", "count"), [
    ("gres:gpu:2", 2), ("gres/gpu:4", 4), ("gres/gpu:a100:2", 2), ("gpu:3", 3),
    ("gres:gpu:2,gres:nic:1", 2), ("N/A", None), ("", None),
])
def test_gpus_per_node_spec(spec: str, count: int | None) -> None:
    assert parse.gpus_per_node_spec(spec) == count


@pytest.mark.parametrize(("comment", "job_id"), [
    ("fabriek:job=42", 42), ("note; fabriek:job=7", 7), ({"job": "fabriek:job=9"}, 9),
    ("fabriek:job=42x", None), ("xfabriek:job=42", None), ("", None), (None, None),
])
def test_job_id_from_comment(comment: object, job_id: int | None) -> None:
    assert parse.job_id_from_comment(comment) == job_id


def test_missing_fields_give_less_detail_not_errors() -> None:
    snap = parse.job_snapshot({"job_id": 5, "job_state": "RUNNING"})
    assert (snap.external_id, snap.state, snap.started_at, snap.gpus_allocated) == (
        "5", ExternalState.running, None, None)
    db = parse.db_job_snapshot({"job_id": 5, "state": {"current": ["COMPLETED"]}})
    assert (db.state, db.exit_code) == (ExternalState.completed, None)


def test_sacct_and_squeue_rows() -> None:
    row = {"JobID": "13", "JobName": "x", "State": "FAILED", "ExitCode": "3:0",
           "Submit": "1795280081", "Start": "1795280082", "End": "1795280082",
           "AllocTRES": "billing=1,cpu=1,gres/gpu=2,mem=256M,node=1", "Reason": "None",
           "Comment": "fabriek:job=5"}
    snap = parse.sacct_snapshot(row)
    assert (snap.state, snap.exit_code, snap.gpus_allocated) == (ExternalState.failed, 3, 2)
    assert parse.sacct_snapshot({**row, "State": "TIMEOUT", "ExitCode": "0:15"}).signal == 15
    pending = parse.sacct_snapshot({**row, "State": "PENDING", "Start": "Unknown"})
    assert (pending.state, pending.started_at) == (ExternalState.queued, None)
    queue_row = {"JobID": "16", "State": "PENDING", "Reason": "BeginTime", "Restarts": "1",
                 "Submit": "1795280090", "Start": "1795280215", "End": "1795280515",
                 "TresPerNode": "gres:gpu:4", "Name": "x", "Comment": ""}
    assert parse.squeue_snapshot(queue_row).state is ExternalState.preempted
