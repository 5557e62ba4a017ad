"""Staging datasets on the real Slurm dev cluster: a job submitted held, its datasets copied
into the scratch area and verified, then released; it reads them where FABRIEK_DATASETS_DIR
says. A tampered dataset cancels the held job before it ever runs; a broker that stopped
between submit and release leaves a held job that finish_hand_over() releases."""

from __future__ import annotations

import dataclasses
import hashlib
import stat
from pathlib import Path

import pytest

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors.slurm import parse
from fabriek.compute.executors.slurm.executor import SlurmExecutor
from fabriek.compute.executors.slurm.rest import ESLURM_JOB_HELD
from fabriek.compute.executors.slurm.versions import SubmitRequest, submit_body
from fabriek.compute.executors.staging import StageDataset, StageFile, StagingFailed
from tests.compute.executors.slurm.conftest import in_state, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

FINISHED = in_state(ExternalState.completed, ExternalState.failed, ExternalState.cancelled,
                    ExternalState.timeout)
READ_IT = ('set -e\ncat "$FABRIEK_DATASETS_DIR/flights/data.csv"\n'
           'stat -c %a "$FABRIEK_DATASETS_DIR/flights/data.csv"\n')


def _dataset(tmp: Path, data: bytes) -> StageDataset:
    digest = hashlib.sha256(data).hexdigest()
    blob = tmp / "blobs" / digest
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    return StageDataset("flights", (StageFile("data.csv", str(blob), digest, len(data)),))


def test_a_job_reads_its_staged_copy_after_the_release(
        executor: SlurmExecutor, make_job, submitted: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    job = dataclasses.replace(make_job(READ_IT), datasets=(_dataset(tmp_path, b"a,b\n1,2\n"),))
    external_id = executor.submit(job)
    submitted.append(external_id)

    done = wait_for(executor, external_id, FINISHED, timeout=60)

    assert done.state is ExternalState.completed, executor.read_log(external_id, "stderr")
    out, _ = executor.read_log(external_id, "stdout")
    assert out.decode().split() == ["a,b", "1,2", "444"]
    staged = executor.job_dir(job) / "datasets" / "flights" / "data.csv"
    assert stat.S_IMODE(staged.stat().st_mode) == 0o444
    assert staged.stat().st_ino != Path(job.datasets[0].files[0].source).stat().st_ino


def test_a_tampered_dataset_cancels_the_held_job_before_it_runs(
        executor: SlurmExecutor, make_job, submitted: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = _dataset(tmp_path, b"the original\n")
    Path(data.files[0].source).write_bytes(b"the altered!\n")
    job = dataclasses.replace(make_job("echo it ran\n"), datasets=(data,))

    with pytest.raises(StagingFailed, match="does not match its checksum"):
        executor.submit(job)

    found = executor.find(job.job_id)
    assert found is not None  # it was submitted (held) ...
    submitted.append(found.external_id)
    final = wait_for(executor, found.external_id, FINISHED, timeout=30)
    assert final.state is ExternalState.cancelled and final.started_at is None  # ... never ran
    assert executor.read_log(found.external_id, "stdout")[0] == b""


def test_a_job_left_held_is_staged_and_released_by_finish_hand_over(
        executor: SlurmExecutor, make_job, submitted: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    job = dataclasses.replace(make_job(READ_IT), datasets=(_dataset(tmp_path, b"x\n"),))
    # What a broker that stopped right after submitting leaves behind: a held job, no data.
    request = dataclasses.replace(executor.submit_request(job), hold=True)
    external_id = _submit_only(executor, request)
    submitted.append(external_id)
    held = wait_for(executor, external_id, lambda s: s.reason == "JobHeldUser", timeout=15)
    assert held.state is ExternalState.queued

    found = executor.find(job.job_id)
    assert found is not None and found.external_id == external_id
    executor.finish_hand_over(job, found)

    done = wait_for(executor, external_id, FINISHED, timeout=60)
    assert done.state is ExternalState.completed
    assert executor.read_log(external_id, "stdout")[0].decode().split() == ["x", "444"]


def _submit_only(executor: SlurmExecutor, request: SubmitRequest) -> str:
    Path(request.working_directory).mkdir(parents=True, exist_ok=True)
    reply = executor.rest.request("POST", executor.paths.submit,
                                  body=submit_body(request, executor.version), submitting=True,
                                  tolerate={ESLURM_JOB_HELD})
    return parse.submitted_job_id(reply)
