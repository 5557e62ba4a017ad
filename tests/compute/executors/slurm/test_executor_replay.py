"""SlurmExecutor against a fake slurmrestd v0.0.41 that replays the schema-written replies:
the paths, bodies and parsing a 24.05 site needs, without such a site."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import pytest

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors.base import ExecutorError, ExecutorJob, JobRejected, UnknownJob
from fabriek.compute.executors.slurm.executor import CliRunner, SlurmExecutor
from tests.compute.executors.slurm.conftest import job_record, load

pytestmark = pytest.mark.unit

V = "v0.0.41"
Route = Callable[[httpx.Request], tuple[int, dict[str, Any]]]


def recorded(name: str) -> Route:
    def reply(request: httpx.Request) -> tuple[int, dict[str, Any]]:
        data = load(V, name)
        return data["http_status"], data["body"]
    return reply


class FakeSlurmrestd:
    """Answers (method, path) from a table and records every request."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, text="Unable find requested URL.")
        status, body = route(request)
        return httpx.Response(status, json=body)


def executor_for(fake: FakeSlurmrestd, **options: Any) -> SlurmExecutor:
    return SlurmExecutor("http://slurm:6820", "fabriek", token="tok", api_version="0.0.41",
                         scratch_dir="/scratch/fabriek", make_dirs=False,
                         transport=httpx.MockTransport(fake), **options)


JOB = ExecutorJob(job_id=42, name="train", script="#!/bin/bash\necho hi\n", gpus=2, nodes=1,
                  cpus=4, memory_mb=4096, time_limit_minutes=60, env={"SEED": "7"},
                  partition="gpu", account="fab-a7", qos="fabriek-standard")


def test_submit_v41_sends_the_script_inside_the_job() -> None:
    fake = FakeSlurmrestd({("POST", "/slurm/v0.0.41/job/submit"): recorded("submit_ok")})
    assert executor_for(fake).submit(JOB) == "4110"
    body = json.loads(fake.requests[0].content)
    assert set(body) == {"job"}
    job = body["job"]
    assert job["script"] == JOB.script
    assert job["tres_per_node"] == "gres/gpu:2"
    assert job["time_limit"] == {"set": True, "infinite": False, "number": 60}
    assert "SEED=7" in job["environment"] and "FABRIEK_JOB_ID=42" in job["environment"]
    assert job["comment"] == "fabriek:job=42"
    assert job["standard_output"] == "/scratch/fabriek/train-42/stdout.log"
    assert fake.requests[0].headers["x-slurm-user-name"] == "fabriek"


def test_submit_v41_rejected() -> None:
    fake = FakeSlurmrestd({("POST", "/slurm/v0.0.41/job/submit"):
                           recorded("submit_invalid_account")})
    with pytest.raises(JobRejected, match="2045"):
        executor_for(fake).submit(JOB)


def test_poll_v41_live_and_from_accounting() -> None:
    def db_job(request: httpx.Request) -> tuple[int, dict[str, Any]]:
        job_id = request.url.path.rsplit("/", 1)[1]
        if job_id == "4105":
            return 200, load(V, "db_job_failed_exit3")["body"]
        return 200, {"jobs": [], "errors": [{"error_number": 9003, "error": "Nothing found"}]}

    fake = FakeSlurmrestd({
        ("GET", "/slurm/v0.0.41/job/4102"): recorded("job_running_gpu"),
        ("GET", "/slurm/v0.0.41/job/4105"): recorded("job_unknown"),  # aged out of slurmctld
        ("GET", "/slurm/v0.0.41/job/999"): recorded("job_unknown"),
        ("GET", "/slurmdb/v0.0.41/job/4105"): db_job,
        ("GET", "/slurmdb/v0.0.41/job/999"): db_job,
    })
    found = executor_for(fake).poll(["4102", "4105", "999"])
    assert set(found) == {"4102", "4105"}
    assert (found["4102"].state, found["4102"].gpu_ids) == (ExternalState.running, (0, 1))
    assert (found["4105"].state, found["4105"].exit_code) == (ExternalState.failed, 3)


def test_poll_many_v41_uses_the_job_list() -> None:
    jobs = [job_record(V, name) for name in ("job_pending", "job_running_gpu", "job_completed",
                                             "job_failed_exit3", "job_timeout",
                                             "job_cancelled_running", "job_requeued_preempted",
                                             "job_pending_budget", "job_completing")]
    fake = FakeSlurmrestd({("GET", "/slurm/v0.0.41/jobs/"):
                           lambda request: (200, {"jobs": jobs, "errors": []})})
    ids = [str(job["job_id"]) for job in jobs]
    found = executor_for(fake).poll(ids)
    assert [found[i].state for i in ids] == [
        ExternalState.queued, ExternalState.running, ExternalState.completed,
        ExternalState.failed, ExternalState.timeout, ExternalState.cancelled,
        ExternalState.preempted, ExternalState.queued, ExternalState.running]
    assert len(fake.requests) == 1


def test_find_v41_live_then_accounting_only_for_our_user() -> None:
    older = {**job_record(V, "job_failed_exit3"), "submit_time": {"set": True, "number": 1}}
    newer = job_record(V, "job_pending")
    stranger = {**job_record(V, "job_running_gpu"), "user_name": "mallory",
                "submit_time": {"set": True, "number": 2_000_000_000}}
    fake = FakeSlurmrestd({
        ("GET", "/slurm/v0.0.41/jobs/"):
            lambda request: (200, {"jobs": [older, stranger, newer], "errors": []}),
        ("GET", "/slurmdb/v0.0.41/jobs/"): recorded("db_job_failed_exit3"),
    })
    executor = executor_for(fake)
    found = executor.find(42)
    assert found is not None and (found.external_id, found.state) == ("4101",
                                                                      ExternalState.queued)
    assert executor.find(43) is None
    query = fake.requests[-1].url.params
    assert query["users"] == "fabriek" and query["start_time"].isdigit()
    from_db = executor.find_in_accounting(42)
    assert from_db is not None and (from_db.external_id, from_db.exit_code) == ("4105", 3)


def test_cancel_v41_unknown_and_finished() -> None:
    fake = FakeSlurmrestd({
        ("DELETE", "/slurm/v0.0.41/job/4104"):
            lambda request: (200, {"errors": [{"error_number": 2021,
                                               "error": "Job/step already completing or "
                                                        "completed"}]}),
        ("DELETE", "/slurm/v0.0.41/job/999"): recorded("job_unknown"),
        ("GET", "/slurmdb/v0.0.41/job/999"):
            lambda request: (200, {"jobs": [], "errors": [{"error_number": 9003}]}),
    })
    executor = executor_for(fake)
    executor.cancel("4104")
    with pytest.raises(UnknownJob):
        executor.cancel("999")


def test_requeue_without_cli_fallback_says_why() -> None:
    fake = FakeSlurmrestd({("GET", "/slurm/v0.0.41/job/4102"): recorded("job_running_gpu")})
    with pytest.raises(ExecutorError, match="requeue needs scontrol"):
        executor_for(fake, use_cli_fallback=False).requeue("4102")


def test_ping_v41() -> None:
    fake = FakeSlurmrestd({("GET", "/slurm/v0.0.41/ping/"): recorded("ping")})
    assert executor_for(fake).ping() is True


def test_ids_that_are_not_slurms_are_left_out_or_unknown() -> None:
    fake = FakeSlurmrestd({})
    executor = executor_for(fake)
    assert executor.poll(["12; rm -rf /", "../1"]) == {}
    with pytest.raises(UnknownJob):
        executor.cancel("1/../../ping")
    assert fake.requests == []  # nothing reached slurmrestd


class FakeCli(CliRunner):
    """Answers Slurm commands from a table; records argv and the extra environment."""

    def __init__(self, outputs: dict[str, str]) -> None:
        super().__init__()
        self.outputs = outputs
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 stdin: str | None = None, inherit_env: bool = True) -> str:
        self.calls.append((list(argv), dict(env or {})))
        return self.outputs[argv[0]]


def test_accounting_falls_back_to_sacct_without_slurmdb_plugin() -> None:
    # slurmrestd started without openapi/dbv0.0.41 answers 404 on /slurmdb/...
    cli = FakeCli({"sacct": "4105|train|FAILED|3:0|1795280000|1795280010|1795280011|"
                            "billing=1,cpu=1,gres/gpu=2,mem=4G,node=1|None|fabriek:job=42\n"})
    executor = executor_for(FakeSlurmrestd({}), runner=cli)
    found = executor.find_in_accounting(42)
    assert found is not None
    assert (found.external_id, found.state, found.exit_code, found.gpus_allocated) == (
        "4105", ExternalState.failed, 3, 2)
    argv, env = cli.calls[0]
    assert argv[0] == "sacct" and "--user=fabriek" in argv
    assert env == {"SLURM_TIME_FORMAT": "%s", "SLURM_JWT": "tok"}  # same user as REST
    assert executor.find_in_accounting(43) is None


def test_requeue_runs_scontrol_as_the_rest_user() -> None:
    cli = FakeCli({"scontrol": ""})
    fake = FakeSlurmrestd({("GET", "/slurm/v0.0.41/job/4102"): recorded("job_running_gpu"),
                           ("GET", "/slurm/v0.0.41/job/4104"): recorded("job_completed")})
    executor = executor_for(fake, runner=cli)
    executor.requeue("4102")
    assert cli.calls == [(["scontrol", "requeue", "4102"], {"SLURM_JWT": "tok"})]
    executor.requeue("4104")  # finished: requeueing would run it again, so nothing happens
    assert len(cli.calls) == 1
