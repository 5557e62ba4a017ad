"""A job with datasets on Slurm, against fake slurmrestd and CLI: submitted held, its datasets
copied to the scratch area and verified, then released (a REST job update; scontrol release
where slurmrestd serves none); a dataset that does not verify cancels the held job."""

from __future__ import annotations

import copy
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors.base import ExecutorJob, HeldHandOver, JobSnapshot
from fabriek.compute.executors.slurm.commands import Sbatch
from fabriek.compute.executors.slurm.executor import SlurmExecutor
from fabriek.compute.executors.slurm.versions import (
    SubmitRequest,
    parse_version,
    release_body,
    submit_body,
)
from fabriek.compute.executors.staging import StageDataset, StageFile, StagingFailed
from tests.compute.executors.slurm.conftest import load
from tests.compute.executors.slurm.test_executor_replay import (
    FakeCli,
    FakeSlurmrestd,
    recorded,
)

pytestmark = pytest.mark.unit
OK: dict[str, Any] = {"errors": [], "warnings": []}


def _dataset(tmp: Path, data: bytes = b"a,b\n1,2\n") -> StageDataset:
    digest = hashlib.sha256(data).hexdigest()
    blob = tmp / "blobs" / digest
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    return StageDataset("flights", (StageFile("data.csv", str(blob), digest, len(data)),))


def _job(datasets: tuple[StageDataset, ...]) -> ExecutorJob:
    return ExecutorJob(job_id=42, name="train", script="#!/bin/bash\necho hi\n", gpus=0,
                       nodes=1, cpus=1, memory_mb=512, time_limit_minutes=5,
                       partition="gpu", account="fab-a7", datasets=datasets)


def _executor(fake: FakeSlurmrestd, scratch: Path, version: str = "0.0.41",
              **options: Any) -> SlurmExecutor:
    return SlurmExecutor("http://slurm:6820", "fabriek", token="tok", api_version=version,
                         scratch_dir=scratch, transport=httpx.MockTransport(fake), **options)


def test_hold_and_release_bodies_per_version() -> None:
    request = SubmitRequest(
        script="#!/bin/bash\n", name="t", partition=None, account=None, qos=None,
        gpus_per_node=0, nodes=1, cpus_per_task=1, memory_per_node_mb=64,
        time_limit_minutes=1, environment={"PATH": "/bin"}, working_directory="/s",
        standard_output="/s/o", standard_error="/s/e", comment="c", hold=True)
    assert submit_body(request, parse_version("0.0.38"))["job"]["hold"] is True
    assert submit_body(request, parse_version("0.0.41"))["job"]["hold"] is True
    unheld = SubmitRequest(**{**request.__dict__, "hold": False})
    assert "hold" not in submit_body(unheld, parse_version("0.0.41"))["job"]
    for version in ("0.0.38", "0.0.41", "0.0.44"):
        assert release_body(parse_version(version)) == {"hold": False}
    assert "--hold" in Sbatch(name="t", time_limit_minutes=1, hold=True).build()
    assert "--hold" not in Sbatch(name="t", time_limit_minutes=1).build()


def test_v41_submits_held_stages_a_verified_copy_then_releases(tmp_path: Path) -> None:
    fake = FakeSlurmrestd({("POST", "/slurm/v0.0.41/job/submit"): recorded("submit_ok"),
                           ("POST", "/slurm/v0.0.41/job/4110"): lambda r: (200, OK)})
    scratch = tmp_path / "scratch"
    data = _dataset(tmp_path)

    assert _executor(fake, scratch).submit(_job((data,))) == "4110"

    submitted = json.loads(fake.requests[0].content)["job"]
    assert submitted["hold"] is True
    assert f"FABRIEK_DATASETS_DIR={scratch}/train-42/datasets" in submitted["environment"]
    staged = scratch / "train-42" / "datasets" / "flights" / "data.csv"
    assert staged.read_bytes() == b"a,b\n1,2\n"
    assert staged.stat().st_ino != Path(data.files[0].source).stat().st_ino  # a copy
    assert stat.S_IMODE(staged.stat().st_mode) == 0o444
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("POST", "/slurm/v0.0.41/job/submit"), ("POST", "/slurm/v0.0.41/job/4110")]
    assert json.loads(fake.requests[1].content) == {"hold": False}


def _held_submit_v38(request: httpx.Request) -> tuple[int, dict[str, Any]]:
    """What 22.05 answers to a held submission: the job's id, and ESLURM_JOB_HELD."""
    body = load("v0.0.38", "submit_ok")["body"]
    body["errors"] = [{"error_code": 2042,
                       "error": "Job is in held state, pending scheduler release"}]
    return 200, body


def test_v38_a_held_submission_is_no_refusal(tmp_path: Path) -> None:
    job_id = load("v0.0.38", "submit_ok")["body"]["job_id"]
    fake = FakeSlurmrestd({("POST", "/slurm/v0.0.38/job/submit"): _held_submit_v38,
                           ("POST", f"/slurm/v0.0.38/job/{job_id}"): lambda r: (200, OK)})
    external_id = _executor(fake, tmp_path / "scratch", "0.0.38").submit(
        _job((_dataset(tmp_path),)))
    assert json.loads(fake.requests[0].content)["job"]["hold"] is True
    assert (fake.requests[1].method, fake.requests[1].url.path) == (
        "POST", f"/slurm/v0.0.38/job/{external_id}")


def test_release_falls_back_to_scontrol_as_the_rest_user(tmp_path: Path) -> None:
    fake = FakeSlurmrestd({("POST", "/slurm/v0.0.38/job/submit"): _held_submit_v38})
    cli = FakeCli({"scontrol": ""})  # no update route: slurmrestd answers 404
    external_id = _executor(fake, tmp_path / "scratch", "0.0.38", runner=cli).submit(
        _job((_dataset(tmp_path),)))
    assert cli.calls == [(["scontrol", "release", external_id], {"SLURM_JWT": "tok"})]


def test_a_tampered_dataset_cancels_the_held_job_and_never_releases(tmp_path: Path) -> None:
    fake = FakeSlurmrestd({("POST", "/slurm/v0.0.41/job/submit"): recorded("submit_ok"),
                           ("DELETE", "/slurm/v0.0.41/job/4110"): lambda r: (200, OK)})
    data = _dataset(tmp_path, b"the original\n")
    Path(data.files[0].source).write_bytes(b"the altered!\n")
    scratch = tmp_path / "scratch"
    with pytest.raises(StagingFailed, match=r"data\.csv does not match its checksum"):
        _executor(fake, scratch).submit(_job((data,)))
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("POST", "/slurm/v0.0.41/job/submit"), ("DELETE", "/slurm/v0.0.41/job/4110")]
    assert not (scratch / "train-42" / "datasets").exists()


def test_a_job_without_datasets_is_not_held(tmp_path: Path) -> None:
    fake = FakeSlurmrestd({("POST", "/slurm/v0.0.41/job/submit"): recorded("submit_ok")})
    _executor(fake, tmp_path / "scratch").submit(_job(()))
    job = json.loads(fake.requests[0].content)["job"]
    assert "hold" not in job and not any(
        e.startswith("FABRIEK_DATASETS_DIR=") for e in job["environment"])
    assert len(fake.requests) == 1


def _held_record(reason: str, priority: int) -> dict[str, Any]:
    body = copy.deepcopy(load("v0.0.41", "job_pending")["body"])
    body["jobs"][0].update(job_id=4110, state_reason=reason,
                           priority={"set": True, "infinite": False, "number": priority})
    return body


def test_finish_hand_over_releases_a_job_left_held_and_nothing_else(tmp_path: Path) -> None:
    held = _held_record("JobHeldUser", 0)
    fake = FakeSlurmrestd({("GET", "/slurm/v0.0.41/job/4110"): lambda r: (200, held),
                           ("POST", "/slurm/v0.0.41/job/4110"): lambda r: (200, OK)})
    executor = _executor(fake, tmp_path / "scratch")
    assert isinstance(executor, HeldHandOver)
    found = JobSnapshot("4110", ExternalState.queued, reason="JobHeldUser")
    executor.finish_hand_over(_job((_dataset(tmp_path),)), found)
    assert ("POST", "/slurm/v0.0.41/job/4110") in [(r.method, r.url.path)
                                                   for r in fake.requests]
    assert (tmp_path / "scratch" / "train-42" / "datasets" / "flights" / "data.csv").exists()

    # Released already (waiting for resources), or running: left alone.
    fake.requests.clear()
    held.update(_held_record("Priority", 4294901750))
    executor.finish_hand_over(_job((_dataset(tmp_path),)),
                              JobSnapshot("4110", ExternalState.queued, reason="Priority"))
    executor.finish_hand_over(_job((_dataset(tmp_path),)),
                              JobSnapshot("4110", ExternalState.running))
    assert [r.method for r in fake.requests] == ["GET"]
