"""The version table, paths and submit bodies per slurmrestd API version."""

from __future__ import annotations

import pytest

from fabriek.compute.executors.base import ExecutorJob, JobRejected
from fabriek.compute.executors.slurm.executor import SlurmExecutor
from fabriek.compute.executors.slurm.versions import (
    FEATURES,
    ApiPaths,
    Feature,
    SubmitRequest,
    db_jobs_query,
    parse_version,
    submit_body,
    supports,
)

pytestmark = pytest.mark.unit

REQUEST = SubmitRequest(
    script="#!/bin/bash\necho hi\n", name="train", partition="gpu", account="fab-a7",
    qos="fabriek-standard", gpus_per_node=2, nodes=1, cpus_per_task=4, memory_per_node_mb=8192,
    time_limit_minutes=90, environment={"PATH": "/usr/bin:/bin", "SEED": "1,2"},
    working_directory="/scratch/train-42", standard_output="/scratch/train-42/stdout.log",
    standard_error="/scratch/train-42/stderr.log", comment="fabriek:job=42")


def test_parse_version() -> None:
    assert parse_version("0.0.38") == (0, 0, 38)
    assert parse_version("v0.0.41") == (0, 0, 41)
    with pytest.raises(ValueError, match="not a slurmrestd API version"):
        parse_version("22.05")
    with pytest.raises(ValueError, match="older than the oldest supported"):
        parse_version("0.0.37")


def test_every_feature_is_in_the_table() -> None:
    assert set(FEATURES) == set(Feature)
    assert not supports((0, 0, 44), Feature.rest_requeue)
    assert supports((0, 0, 38), Feature.slurmdb)
    assert not supports((0, 0, 38), Feature.job_state_list)
    assert supports((0, 0, 40), Feature.job_state_list)


def test_paths_v38_and_v40() -> None:
    old, new = ApiPaths((0, 0, 38)), ApiPaths((0, 0, 40))
    assert (old.ping, old.jobs, old.submit, old.job("7"), old.db_jobs, old.db_job("7")) == (
        "/slurm/v0.0.38/ping", "/slurm/v0.0.38/jobs", "/slurm/v0.0.38/job/submit",
        "/slurm/v0.0.38/job/7", "/slurmdb/v0.0.38/jobs", "/slurmdb/v0.0.38/job/7")
    assert (new.ping, new.jobs, new.db_jobs, new.job("7")) == (
        "/slurm/v0.0.40/ping/", "/slurm/v0.0.40/jobs/", "/slurmdb/v0.0.40/jobs/",
        "/slurm/v0.0.40/job/7")


def test_submit_body_v38_as_the_dev_cluster_takes_it() -> None:
    body = submit_body(REQUEST, (0, 0, 38))
    assert body["script"] == REQUEST.script
    job = body["job"]
    assert job["environment"] == {"PATH": "/usr/bin:/bin", "SEED": "1,2"}
    assert (job["gres"], job["nodes"], job["tasks"], job["cpus_per_task"]) == (
        "gpu:2", [1, 1], 1, 4)
    assert (job["time_limit"], job["memory_per_node"], job["open_mode"]) == (90, 8192, "append")
    assert (job["account"], job["qos"], job["partition"], job["comment"]) == (
        "fab-a7", "fabriek-standard", "gpu", "fabriek:job=42")
    assert job["requeue"] is True
    assert "script" not in job and "tres_per_node" not in job


@pytest.mark.parametrize("version", [(0, 0, 40), (0, 0, 41), (0, 0, 44)])
def test_submit_body_new_versions(version: tuple[int, int, int]) -> None:
    body = submit_body(REQUEST, version)
    assert set(body) == {"job"}  # slurmrestd >= 0.0.41: the script goes inside the job
    job = body["job"]
    assert job["script"] == REQUEST.script
    assert job["environment"] == ["PATH=/usr/bin:/bin", "SEED=1,2"]
    assert job["time_limit"] == {"set": True, "infinite": False, "number": 90}
    assert job["memory_per_node"] == {"set": True, "infinite": False, "number": 8192}
    assert (job["tres_per_node"], job["minimum_nodes"], job["maximum_nodes"]) == (
        "gres/gpu:2", 1, 1)
    assert job["open_mode"] == ["APPEND"]
    assert "gres" not in job and "nodes" not in job


def test_submit_body_without_gpus_asks_for_none() -> None:
    body = submit_body(SubmitRequest(**{**REQUEST.__dict__, "gpus_per_node": 0}), (0, 0, 38))
    assert "gres" not in body["job"]


def _job(**changes: object) -> ExecutorJob:
    fields: dict[str, object] = dict(
        job_id=42, name="train", script="#!/bin/bash\ntrue\n", gpus=4, nodes=2, cpus=8,
        memory_mb=16384, time_limit_minutes=30, env={"SEED": "1"}, partition="gpu",
        account="Fab-A7", qos="fabriek-priority")
    fields.update(changes)
    return ExecutorJob(**fields)  # type: ignore[arg-type]


def test_submit_request_from_an_executor_job(tmp_path: object) -> None:
    executor = SlurmExecutor("http://127.0.0.1:9", "svc", token="t", scratch_dir="/scratch/fab")
    request = executor.submit_request(_job())
    assert request.gpus_per_node == 2  # 4 GPUs over 2 nodes
    assert (request.nodes, request.cpus_per_task, request.memory_per_node_mb) == (2, 8, 16384)
    assert request.account == "fab-a7"  # Slurm keeps account names in lower case
    assert request.working_directory == "/scratch/fab/train-42"
    assert request.standard_output == "/scratch/fab/train-42/stdout.log"
    assert request.standard_error == "/scratch/fab/train-42/stderr.log"
    assert request.comment == "fabriek:job=42"
    assert request.environment == {"PATH": executor.job_path, "SEED": "1",
                                   "FABRIEK_JOB_ID": "42"}
    with pytest.raises(JobRejected, match="spread evenly"):
        executor.submit_request(_job(gpus=3))
    executor.close()


def test_db_jobs_query_per_version() -> None:
    old = db_jobs_query((0, 0, 38), since=86400 * 365, user="svc", cluster="c1")
    assert old == {"start_time": "1971-01-01T00:00:00", "cluster": "c1"}
    new = db_jobs_query((0, 0, 40), since=1795280000.7, user="svc", cluster=None)
    assert new == {"start_time": "1795280000", "users": "svc"}
