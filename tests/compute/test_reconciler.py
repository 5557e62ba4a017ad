"""The reconciler with the real local executor: lifecycles, pre-emption, crash safety, budgets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.models import Job, UsageWarning
from fabriek.compute.reconciler import Reconciler, executor_job
from fabriek.compute.registry import Executors
from fabriek.federation.domain import CapacityBasis, ExecutorKind, PartitionProfile
from tests.compute import helpers as h

pytestmark = pytest.mark.integration
KEY = ("local", "gpu")


@pytest.fixture
def local(tmp_path: Path) -> LocalExecutor:
    # time_scale 60: a job's 1-minute limit lasts one second, so time limits are testable.
    return LocalExecutor(tmp_path / "spool", gpu_slots=4, grace_seconds=0.5, time_scale=60)


@pytest.fixture
def executors(local: LocalExecutor) -> Executors:
    return Executors(by_partition={KEY: local}, partitions={KEY: PartitionProfile(
        *KEY, "H100-SXM5-80GB", 80, 4, 1, CapacityBasis.operator, ExecutorKind.local)})


@pytest.fixture
def reconciler(database, executors, access) -> Reconciler:  # type: ignore[no-untyped-def]
    return Reconciler(database, executors, access, worker_id="test-worker")


@pytest.fixture
def client(database, access, executors, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with h.api_with(database, access, executors, tmp_path) as c:
        yield c


def _submit(client: TestClient, who, allocation_id: int, **over) -> dict:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/jobs", json=h.job(allocation_id, **over), headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_job_completes_with_output_usage_and_audit(client, reconciler, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    show_gpus = "import os; print('gpus', os.environ['CUDA_VISIBLE_DEVICES'])"
    job = _submit(client, anna, allocation_id, gpus=2, command=["python3", "-c", show_gpus])

    done = h.until(reconciler, client, anna, job["id"], lambda j: j["state"] == "completed")

    assert done["exit_code"] == 0 and done["started_at"] and done["ended_at"]
    assert done["gpu_hours_used"] > 0
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=anna.headers)
    assert logs.text.startswith("gpus ") and len(logs.text.split()[1].split(",")) == 2
    usage = client.get(f"/api/v1/allocations/{allocation_id}/usage", headers=anna.headers).json()
    assert usage["gpu_hours_used"] == pytest.approx(done["gpu_hours_used"], abs=1e-6)
    assert usage["gpu_hours_committed"] == 0
    events = client.get(f"/api/v1/audit?subject_type=job&subject_id={job['id']}",
                        headers=anna.headers).json()["items"]
    assert [e["action"] for e in events][:2] == ["job.submitted", "job.queued"]
    assert events[-1]["action"] == "job.completed"


def test_job_that_fails_records_its_exit_code(client, reconciler, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    job = _submit(client, anna, allocation_id, command=["bash", "-c", "echo oops >&2; exit 3"])
    done = h.until(reconciler, client, anna, job["id"], lambda j: j["state"] == "failed")
    assert done["exit_code"] == 3
    err = client.get(f"/api/v1/jobs/{job['id']}/logs?stream=stderr", headers=anna.headers)
    assert "oops" in err.text


def test_job_past_its_time_limit_is_stopped(client, reconciler, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    job = _submit(client, anna, allocation_id, time_limit_minutes=1,
                  command=["sleep", "300"])
    done = h.until(reconciler, client, anna, job["id"], lambda j: j["state"] == "timeout")
    assert done["ended_at"] is not None


def test_cancel_a_running_job(client, reconciler, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    job = _submit(client, anna, allocation_id, command=["sleep", "300"])
    h.until(reconciler, client, anna, job["id"], lambda j: j["state"] == "running")
    r = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=anna.headers)
    assert r.json()["cancel_requested"] is True
    done = h.until(reconciler, client, anna, job["id"], lambda j: j["state"] == "cancelled")
    assert done["gpu_hours_used"] > 0


def test_emergency_job_preempts_lower_class_and_the_owner_sees_it(
        client, reconciler, make_person, officer):
    anna, crisis = make_person("anna@lumen.example"), make_person("ops@crisis.example")
    small = h.allocation(client, officer, anna, mode="strategic", gpu_hours=100)
    urgent = h.allocation(client, officer, crisis, mode="emergency", gpu_hours=100,
                          legal_name="Crisis Centre", registration_id="CC-1")
    victim = _submit(client, anna, small, gpus=4, command=["sleep", "300"])
    h.until(reconciler, client, anna, victim["id"], lambda j: j["state"] == "running")

    rescue = _submit(client, crisis, urgent, gpus=4, command=["python3", "-c", "print('saved')"])
    h.until(reconciler, client, crisis, rescue["id"], lambda j: j["state"] == "completed")

    seen = client.get(f"/api/v1/jobs/{victim['id']}", headers=anna.headers).json()
    assert seen["preemptions"] == 1 and seen["last_preempted_at"] is not None
    events = client.get(f"/api/v1/audit?subject_type=job&subject_id={victim['id']}",
                        headers=anna.headers).json()["items"]
    assert "job.preempted" in [e["action"] for e in events]
    # The pre-empted job starts again once the emergency job is done.
    h.until(reconciler, client, anna, victim["id"], lambda j: j["state"] == "running")
    client.post(f"/api/v1/jobs/{victim['id']}/cancel", headers=anna.headers)
    h.until(reconciler, client, anna, victim["id"], lambda j: j["state"] == "cancelled")


def test_worker_dying_after_submit_leaves_exactly_one_scheduler_job(
        client, reconciler, make_person, officer, database, access, executors, local):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    job = _submit(client, anna, allocation_id, command=["python3", "-c", "print(1)"])
    # A worker claims the job and submits it, then dies before recording the scheduler's id.
    claimed = reconciler._claim(reconciler_now())
    assert claimed == [job["id"]]
    with database.unit_of_work(readonly=True) as s:
        local.submit(executor_job(s.get(Job, job["id"]), access))
    # A second worker, after the first one's lease ran out, finds it instead of resubmitting.
    restarted = Reconciler(database, executors, access, worker_id="restarted", lease_seconds=0)
    report = restarted.run_once(now=reconciler_now(after_seconds=600))
    assert report.adopted == [job["id"]] and report.submitted == []
    assert len(list((local.spool / "jobs").iterdir())) == 1
    h.until(restarted, client, anna, job["id"], lambda j: j["state"] == "completed")


def reconciler_now(after_seconds: float = 0):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from fabriek.kit.clock import utcnow

    return utcnow() + timedelta(seconds=after_seconds)


def test_two_workers_never_submit_the_same_job_twice(
        client, make_person, officer, database, access, executors, local):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna, gpu_hours=100)
    ids = [_submit(client, anna, allocation_id, name=f"j{i}",
                   command=["python3", "-c", "print(1)"])["id"] for i in range(6)]
    workers = [Reconciler(database, executors, access, worker_id=f"w{i}") for i in range(3)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        reports = list(pool.map(lambda w: w.run_once(), workers))
    handed = sorted(i for r in reports for i in r.submitted + r.adopted)
    assert handed == sorted(ids)
    assert len(list((local.spool / "jobs").iterdir())) == 6


def test_usage_warnings_at_thresholds_and_an_exhausted_allocation_admits_nothing(
        client, reconciler, make_person, officer, database):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna, gpu_hours=1)
    # 4 GPUs × 15 min = 1 GPU-hour: the whole grant as the worst case.
    job = _submit(client, anna, allocation_id, gpus=4, time_limit_minutes=15,
                  command=["sleep", "300"])
    refused = client.post("/api/v1/jobs", json=h.job(allocation_id, time_limit_minutes=1),
                          headers=anna.headers)
    assert refused.status_code == 422  # the running job holds the whole budget
    h.until(reconciler, client, anna, job["id"], lambda j: j["state"] == "running")
    # As if an earlier run of this job (before a pre-emption) had used 0.93 GPU-hours.
    with database.unit_of_work() as s:
        s.get(Job, job["id"]).gpu_hours_prior = 0.93
    reconciler.run_once()
    usage = client.get(f"/api/v1/allocations/{allocation_id}/usage", headers=anna.headers).json()
    assert [w["threshold_percent"] for w in usage["warnings"]] == [75, 90]
    client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=anna.headers)
    h.until(reconciler, client, anna, job["id"], lambda j: j["state"] == "cancelled")
    with database.unit_of_work(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(UsageWarning)) == 2


def test_allocations_become_active_on_their_start_and_end_after_their_last_day(
        client, reconciler, make_person, officer):
    from datetime import UTC, date, datetime, time, timedelta

    anna = make_person("anna@lumen.example")
    org = client.post("/api/v1/organisations?vouch=true", headers=anna.headers,
                      json=h.builders.startup_org()).json()
    start = date.today() + timedelta(days=10)
    r = client.post("/api/v1/allocations/direct", headers=officer.headers, json={
        **h.builders.proposal(org["id"], "strategic", gpu_hours=10, duration_months=1,
                              start_on=start.isoformat()), "reasons": "starts later"})
    allocation_id = r.json()["allocation_ids"][0]

    def state() -> str:
        return client.get(f"/api/v1/allocations/{allocation_id}",
                          headers=anna.headers).json()["state"]

    assert state() == "scheduled"
    early = client.post("/api/v1/jobs", json=h.job(allocation_id), headers=anna.headers)
    assert early.status_code == 422 and "not active" in early.json()["detail"]
    reconciler.run_once(now=datetime.combine(start, time(8), tzinfo=UTC))
    assert state() == "active"
    end = client.get(f"/api/v1/allocations/{allocation_id}",
                     headers=anna.headers).json()["end_on"]
    reconciler.run_once(now=datetime.combine(date.fromisoformat(end) + timedelta(days=1),
                                             time(8), tzinfo=UTC))
    assert state() == "ended"


def test_logs_follow_streams_until_the_job_ends(client, reconciler, make_person, officer):
    import threading

    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    program = ("import time\nfor i in range(4):\n"
               "    print('step', i, flush=True)\n    time.sleep(0.3)")
    job = _submit(client, anna, allocation_id, command=["python3", "-c", program])
    h.until(reconciler, client, anna, job["id"], lambda j: j["state"] == "running")
    stop = threading.Event()
    worker = threading.Thread(target=reconciler.run_forever, args=(stop, 0.1), daemon=True)
    worker.start()
    try:
        r = client.get(f"/api/v1/jobs/{job['id']}/logs?follow=true", headers=anna.headers)
    finally:
        stop.set()
        worker.join(10)
    assert r.status_code == 200
    assert r.text.splitlines() == [f"step {i}" for i in range(4)]
