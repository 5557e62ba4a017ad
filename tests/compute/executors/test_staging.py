"""Placing datasets next to a job: hard link or copy, read-only, every file hashed after it is
placed; and the local executor staging them before a job enters its queue."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors import staging
from fabriek.compute.executors.base import ExecutorJob
from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.executors.staging import StageDataset, StageFile, StagingFailed
from fabriek.compute.script import build_script
from fabriek.compute.spec import JobSpec

pytestmark = pytest.mark.unit


def _blob(store: Path, data: bytes) -> StageFile:
    digest = hashlib.sha256(data).hexdigest()
    path = store / digest[:2] / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return StageFile(name="x", source=str(path), sha256=digest, size=len(data))


def _dataset(store: Path, slug: str, **files: bytes) -> StageDataset:
    made = []
    for name, data in files.items():
        blob = _blob(store, data)
        made.append(StageFile(name=name.replace("_", "."), source=blob.source,
                              sha256=blob.sha256, size=blob.size))
    return StageDataset(slug, tuple(made))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_datasets_are_linked_read_only_and_verified(tmp_path: Path) -> None:
    store = tmp_path / "store"
    flights = _dataset(store, "flights", data_csv=b"a,b\n1,2\n", readme_md=b"# flights\n")
    act = _dataset(store, "ai-act", act_txt=b"Article 1\n")
    target = tmp_path / "work" / "datasets"

    how = staging.place([flights, act], target, link=True)

    assert how == ["link", "link", "link"]
    assert (target / "flights" / "data.csv").read_bytes() == b"a,b\n1,2\n"
    assert (target / "ai-act" / "act.txt").read_bytes() == b"Article 1\n"
    assert os.path.samefile(target / "flights" / "data.csv", flights.files[0].source)
    for path in (target / "flights" / "data.csv", target / "flights" / "readme.md"):
        assert _mode(path) == 0o444
    assert _mode(target / "flights") == 0o555 and _mode(target) == 0o555
    if os.geteuid() != 0:  # root writes through any mode; everyone else is refused
        with pytest.raises(PermissionError):
            (target / "flights" / "data.csv").write_bytes(b"changed")
        with pytest.raises(PermissionError):
            (target / "flights" / "new.csv").write_bytes(b"added")


def test_copies_when_asked_and_the_copy_is_independent(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = _dataset(store, "flights", data_csv=b"1,2,3\n")
    target = tmp_path / "scratch" / "datasets"
    assert staging.place([data], target, link=False) == ["copy"]
    assert not os.path.samefile(target / "flights" / "data.csv", data.files[0].source)
    assert _mode(target / "flights" / "data.csv") == 0o444


def test_a_tampered_blob_fails_and_leaves_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = _dataset(store, "flights", data_csv=b"the original\n")
    Path(data.files[0].source).write_bytes(b"the altered!!\n")  # same size, other bytes
    target = tmp_path / "work" / "datasets"
    with pytest.raises(StagingFailed, match=r"flights: data.csv does not match its checksum"):
        staging.place([data], target)
    assert not target.exists()


def test_a_missing_blob_fails_with_its_name(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = _dataset(store, "flights", data_csv=b"1\n")
    os.unlink(data.files[0].source)
    with pytest.raises(StagingFailed, match=r"flights: the stored file of data\.csv is missing"):
        staging.place([data], tmp_path / "work" / "datasets")
    assert not (tmp_path / "work" / "datasets").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "", "nul\x00"])
def test_file_names_that_would_leave_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    store = tmp_path / "store"
    blob = _blob(store, b"1\n")
    bad = StageDataset("flights", (StageFile(name, blob.source, blob.sha256, blob.size),))
    with pytest.raises(StagingFailed, match="cannot be staged"):
        staging.place([bad], tmp_path / "work" / "datasets")
    assert not (tmp_path / "work").exists()


def test_a_second_attempt_replaces_the_first(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = _dataset(store, "flights", data_csv=b"1\n")
    target = tmp_path / "work" / "datasets"
    staging.place([data], target)
    staging.place([data], target)  # read-only leftovers are no obstacle
    assert sorted(p.name for p in target.iterdir()) == ["flights"]


# --- the local executor --------------------------------------------------------------------


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(tmp_path / "spool", gpu_slots=1, grace_seconds=0.5)
    yield executor
    for marker in (tmp_path / "spool" / "active").iterdir():
        executor.cancel(marker.name)


def _job(job_id: int, body: str, datasets: tuple[StageDataset, ...]) -> ExecutorJob:
    spec = JobSpec(name=f"job-{job_id}", allocation_id=1, script=body, gpus=0,
                   time_limit_minutes=5)
    return ExecutorJob(job_id=job_id, name=spec.name, script=build_script(spec, job_id=job_id),
                       gpus=0, nodes=1, cpus=1, memory_mb=256, time_limit_minutes=5,
                       datasets=datasets)


def _finished(executor: LocalExecutor, ext_id: str, timeout: float = 20):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while (snap := executor.poll([ext_id])[ext_id]).state in (ExternalState.queued,
                                                               ExternalState.running):
        assert time.monotonic() < end, snap
        time.sleep(0.05)
    return snap


@pytest.mark.integration
def test_local_job_reads_its_datasets_where_the_variable_says(
        executor: LocalExecutor, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "store", "flights", data_csv=b"a,b\n1,2\n")
    body = ('set -e\ncat "$FABRIEK_DATASETS_DIR/flights/data.csv"\n'
            'test "$FABRIEK_DATASETS_DIR" = "$FABRIEK_JOB_DIR/datasets"\n'
            'stat -c %a "$FABRIEK_DATASETS_DIR/flights/data.csv" "$FABRIEK_DATASETS_DIR/flights"'
            "\n")
    ext_id = executor.submit(_job(7, body, (data,)))
    snap = _finished(executor, ext_id)
    out, _ = executor.read_log(ext_id, "stdout")
    assert snap.state is ExternalState.completed, executor.read_log(ext_id, "stderr")
    assert out.decode().split() == ["a,b", "1,2", "444", "555"]


@pytest.mark.integration
def test_local_job_with_a_tampered_dataset_never_enters_the_queue(
        executor: LocalExecutor, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "store", "flights", data_csv=b"the original\n")
    Path(data.files[0].source).write_bytes(b"tampered\n")
    with pytest.raises(StagingFailed, match="does not match its checksum"):
        executor.submit(_job(8, "echo ran\n", (data,)))
    assert executor.find(8) is None
    assert list((tmp_path / "spool" / "active").iterdir()) == []
    assert [p.name for p in (tmp_path / "spool" / "jobs").iterdir()] == []


@pytest.mark.integration
def test_local_job_without_datasets_has_no_datasets_variable(
        executor: LocalExecutor) -> None:
    ext_id = executor.submit(_job(9, 'echo "[${FABRIEK_DATASETS_DIR:-none}]"\n', ()))
    _finished(executor, ext_id)
    assert executor.read_log(ext_id, "stdout")[0] == b"[none]\n"
