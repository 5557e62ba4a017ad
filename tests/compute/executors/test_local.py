"""LocalExecutor: real processes, an ordered queue over GPU slots, detached supervisors."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors.base import (
    Executor,
    ExecutorJob,
    JobRejected,
    JobSnapshot,
    UnknownJob,
)
from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.script import build_script
from fabriek.compute.spec import JobSpec

pytestmark = pytest.mark.integration

# time_scale=60: a job's limit in minutes becomes seconds, so a 1-minute limit fires after 1 s.
SCALE = 60
GRACE = 1.0
WAIT_FOR_RELEASE = 'while [ ! -e "$RELEASE" ]; do sleep 0.02; done\n'


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def executor(spool: Path) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(spool, gpu_slots=4, grace_seconds=GRACE, time_scale=SCALE)
    yield executor
    for marker in (spool / "active").iterdir():  # leave no process behind
        executor.cancel(marker.name)


def _job(job_id: int, body: str, *, gpus: int = 0, rank: int = 0, minutes: int = 60,
         env: dict[str, str] | None = None) -> ExecutorJob:
    spec = JobSpec(name=f"job-{job_id}", allocation_id=1, script=body, gpus=gpus,
                   time_limit_minutes=minutes, env=env or {})
    return ExecutorJob(job_id=job_id, name=spec.name, script=build_script(spec, job_id=job_id),
                       gpus=gpus, nodes=1, cpus=1, memory_mb=1024,
                       time_limit_minutes=minutes, priority_rank=rank)


def _held(job_id: int, tmp: Path, body: str = "", *, gpus: int = 0,
          rank: int = 0) -> ExecutorJob:
    """A job that runs `body`, then waits until the test creates tmp/release-<job_id>."""
    release = tmp / f"release-{job_id}"
    return _job(job_id, body + WAIT_FOR_RELEASE, gpus=gpus, rank=rank,
                env={"RELEASE": str(release), "OUT": str(tmp)})


def _release(tmp: Path, job_id: int) -> None:
    (tmp / f"release-{job_id}").touch()


def _wait(executor: LocalExecutor, ext_id: str, until: Callable[[JobSnapshot], bool],
          timeout: float = 15) -> JobSnapshot:
    end = time.monotonic() + timeout
    while True:
        snapshot = executor.poll([ext_id])[ext_id]
        if until(snapshot):
            return snapshot
        assert time.monotonic() < end, f"gave up waiting; last seen {snapshot}"
        time.sleep(0.05)


def _in_state(*states: ExternalState) -> Callable[[JobSnapshot], bool]:
    return lambda snapshot: snapshot.state in states


def _wait_file(path: Path, timeout: float = 10, ends: str = "\n") -> str:
    end = time.monotonic() + timeout
    while not (path.exists() and path.read_text().endswith(ends)):
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text().strip()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"  # dead, awaiting its reaper
    except FileNotFoundError:
        return True


def _wait_gone(pids: list[int], timeout: float = 5) -> None:
    end = time.monotonic() + timeout
    while not all(_gone(pid) for pid in pids):
        assert time.monotonic() < end, f"still alive: {[p for p in pids if not _gone(p)]}"
        time.sleep(0.02)


def test_local_executor_satisfies_the_protocol(executor: LocalExecutor) -> None:
    assert isinstance(executor, Executor)
    assert executor.name == "local"
    assert executor.ping() is True


def test_submit_job_completes_with_output_captured(executor: LocalExecutor) -> None:
    ext_id = executor.submit(_job(1, "echo hello\necho oops >&2\n"))

    snapshot = _wait(executor, ext_id, _in_state(ExternalState.completed))

    assert ext_id.startswith("local-1-")
    assert (snapshot.exit_code, snapshot.signal, snapshot.gpu_ids) == (0, None, ())
    assert snapshot.submitted_at and snapshot.started_at and snapshot.ended_at
    assert snapshot.submitted_at <= snapshot.started_at <= snapshot.ended_at
    assert executor.read_log(ext_id, "stdout") == (b"hello\n", 6)
    assert executor.read_log(ext_id, "stderr") == (b"oops\n", 5)


def test_job_ending_with_a_background_child_left_has_it_killed(
        executor: LocalExecutor, tmp_path: Path) -> None:
    job = _job(9, 'sleep 300 & echo $! > "$OUT/child"\n', env={"OUT": str(tmp_path)})
    ext_id = executor.submit(job)

    snapshot = _wait(executor, ext_id, _in_state(ExternalState.completed))

    assert snapshot.exit_code == 0
    _wait_gone([int(_wait_file(tmp_path / "child"))])


def test_submit_job_exiting_3_is_failed_with_exit_code(executor: LocalExecutor) -> None:
    ext_id = executor.submit(_job(2, "exit 3\n"))

    snapshot = _wait(executor, ext_id, _in_state(ExternalState.failed))

    assert (snapshot.exit_code, snapshot.signal, snapshot.reason) == (3, None, "exit code 3")


def test_submit_job_needing_more_gpus_than_slots_is_rejected(executor: LocalExecutor) -> None:
    with pytest.raises(JobRejected, match="needs 5 GPUs; this machine has 4 GPU slots"):
        executor.submit(_job(3, "true\n", gpus=5))


def test_cancel_running_job_kills_every_process_it_started(
        executor: LocalExecutor, tmp_path: Path) -> None:
    body = (
        'sleep 300 & echo $! >> "$OUT/pids"\n'
        # Ignores SIGTERM: only the SIGKILL after the grace period ends it.
        "(trap '' TERM; exec sleep 301) & echo $! >> \"$OUT/pids\"\n"
        # Leaves the process group: found by the run's environment marker.
        'setsid sleep 302 & echo $! >> "$OUT/pids"\n'
        'echo $$ >> "$OUT/pids"\n'
        'echo >> "$OUT/ready"\n'
    )
    ext_id = executor.submit(_held(4, tmp_path, body))
    _wait_file(tmp_path / "ready")
    pids = [int(line) for line in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 4 and not any(_gone(pid) for pid in pids)

    executor.cancel(ext_id)

    snapshot = executor.poll([ext_id])[ext_id]
    assert snapshot.state == ExternalState.cancelled
    assert snapshot.reason == "cancel requested"
    _wait_gone(pids)


def test_cancel_queued_job_is_cancelled_at_once(executor: LocalExecutor, tmp_path: Path) -> None:
    blocker = executor.submit(_held(5, tmp_path, gpus=4))
    waiting = executor.submit(_job(6, "echo should-not-run\n", gpus=1))
    assert executor.poll([waiting])[waiting].state == ExternalState.queued

    executor.cancel(waiting)
    _release(tmp_path, 5)
    _wait(executor, blocker, _in_state(ExternalState.completed))

    snapshot = executor.poll([waiting])[waiting]
    assert (snapshot.state, snapshot.started_at) == (ExternalState.cancelled, None)
    assert executor.read_log(waiting, "stdout") == (b"", 0)


def test_cancel_finished_job_is_a_no_op(executor: LocalExecutor) -> None:
    ext_id = executor.submit(_job(7, "true\n"))
    before = _wait(executor, ext_id, _in_state(ExternalState.completed))

    executor.cancel(ext_id)

    assert executor.poll([ext_id])[ext_id] == before


def test_job_past_its_time_limit_is_stopped_as_timeout(executor: LocalExecutor) -> None:
    ext_id = executor.submit(_job(8, "sleep 300\n", minutes=1))  # 1 s with time_scale=60

    snapshot = _wait(executor, ext_id, _in_state(ExternalState.timeout), timeout=10)

    assert snapshot.signal == signal.SIGTERM
    assert snapshot.reason == "time limit of 1 s reached"
    assert snapshot.started_at and snapshot.ended_at
    assert 0.9 < (snapshot.ended_at - snapshot.started_at).total_seconds() < 5


def test_gpu_slots_are_exclusive_and_a_job_waits_for_them(
        executor: LocalExecutor, tmp_path: Path) -> None:
    record = 'printf "%s\\n" "$CUDA_VISIBLE_DEVICES" > "$OUT/cvd-$FABRIEK_JOB_ID"\n'
    ids = [executor.submit(_held(n, tmp_path, record, gpus=2)) for n in (11, 12, 13)]
    first = _wait(executor, ids[0], _in_state(ExternalState.running))
    second = _wait(executor, ids[1], _in_state(ExternalState.running))
    third = executor.poll([ids[2]])[ids[2]]

    seen = {n: _wait_file(tmp_path / f"cvd-{n}") for n in (11, 12)}
    assert seen == {11: "0,1", 12: "2,3"}
    assert (first.gpu_ids, second.gpu_ids) == ((0, 1), (2, 3))
    assert (third.state, third.reason, third.gpu_ids) == (ExternalState.queued, "Resources", ())

    _release(tmp_path, 12)
    third = _wait(executor, ids[2], _in_state(ExternalState.running))
    assert third.gpu_ids == (2, 3)
    assert _wait_file(tmp_path / "cvd-13") == "2,3"
    assert executor.poll([ids[0]])[ids[0]].state == ExternalState.running


def test_higher_priority_job_queued_later_starts_first(
        executor: LocalExecutor, tmp_path: Path) -> None:
    blocker = executor.submit(_held(20, tmp_path, gpus=4))
    low = executor.submit(_held(21, tmp_path, gpus=4, rank=300))
    high = executor.submit(_held(22, tmp_path, gpus=4, rank=1000))
    _wait(executor, blocker, _in_state(ExternalState.running))
    assert [executor.poll([i])[i].reason for i in (low, high)] == ["Priority", "Resources"]

    _release(tmp_path, 20)

    _wait(executor, high, _in_state(ExternalState.running))
    assert executor.poll([low])[low].state == ExternalState.queued
    _release(tmp_path, 22)
    _wait(executor, low, _in_state(ExternalState.running))


def test_requeue_running_job_goes_back_to_the_queue_and_restarts(
        executor: LocalExecutor, tmp_path: Path) -> None:
    low = executor.submit(_held(30, tmp_path, "echo start\n", gpus=4))
    _wait(executor, low, lambda s: executor.read_log(low, "stdout")[0] == b"start\n")
    emergency = executor.submit(_held(31, tmp_path, gpus=4, rank=1000))

    executor.requeue(low)

    snapshot = executor.poll([low])[low]
    assert (snapshot.state, snapshot.reason, snapshot.gpu_ids) == (
        ExternalState.queued, "preempted", ())
    _wait(executor, emergency, _in_state(ExternalState.running))
    _release(tmp_path, 31)
    _wait(executor, low, _in_state(ExternalState.running))
    _release(tmp_path, 30)
    assert _wait(executor, low, _in_state(ExternalState.completed)).exit_code == 0
    lines = executor.read_log(low, "stdout")[0].decode().splitlines()
    assert lines[0] == lines[2] == "start"
    assert lines[1].startswith("----- fabriek: requeued; attempt 2 starts here")
    assert len(lines) == 3


def test_cancel_during_a_requeue_wins(
        executor: LocalExecutor, spool: Path, tmp_path: Path) -> None:
    # Ignores SIGTERM, so the requeue sits in its grace period when the cancel arrives.
    ext_id = executor.submit(_held(35, tmp_path, "trap '' TERM\necho >> \"$OUT/ready\"\n"))
    _wait_file(tmp_path / "ready")
    requeue = threading.Thread(target=executor.requeue, args=(ext_id,))
    requeue.start()
    _wait_file(spool / "jobs" / ext_id / "run-1" / "control", ends="requeue")

    executor.cancel(ext_id)
    requeue.join()

    assert executor.poll([ext_id])[ext_id].state == ExternalState.cancelled


def test_second_executor_on_the_same_spool_sees_and_controls_the_jobs(
        executor: LocalExecutor, spool: Path, tmp_path: Path) -> None:
    ext_id = executor.submit(_held(40, tmp_path, gpus=1))
    _wait(executor, ext_id, _in_state(ExternalState.running))

    other = LocalExecutor(spool, gpu_slots=4, grace_seconds=GRACE, time_scale=SCALE)

    assert other.poll([ext_id])[ext_id].state == ExternalState.running
    assert other.find(40) == executor.find(40)
    other.cancel(ext_id)
    assert executor.poll([ext_id])[ext_id].state == ExternalState.cancelled


def test_job_outlives_the_process_that_submitted_it(
        executor: LocalExecutor, spool: Path, tmp_path: Path) -> None:
    job = _held(41, tmp_path, "echo from-a-dead-parent\n", gpus=1)
    program = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from fabriek.compute.executors.base import ExecutorJob\n"
        "from fabriek.compute.executors.local import LocalExecutor\n"
        "job = ExecutorJob(**json.loads(sys.argv[2]))\n"
        "print(LocalExecutor(Path(sys.argv[1]), time_scale=60).submit(job))\n"
    )
    fields = {k: getattr(job, k) for k in ("job_id", "name", "script", "gpus", "nodes", "cpus",
                                           "memory_mb", "time_limit_minutes")}
    done = subprocess.run([sys.executable, "-c", program, str(spool), json.dumps(fields)],
                          capture_output=True, text=True, check=True, timeout=30)
    ext_id = done.stdout.strip()

    _wait(executor, ext_id, _in_state(ExternalState.running))
    _release(tmp_path, 41)
    _wait(executor, ext_id, _in_state(ExternalState.completed))
    assert executor.read_log(ext_id, "stdout")[0] == b"from-a-dead-parent\n"


def test_find_returns_the_job_carrying_the_platform_id(executor: LocalExecutor) -> None:
    first = executor.submit(_job(50, "true\n"))
    again = executor.submit(_job(50, "true\n"))
    executor.submit(_job(500, "true\n"))

    found = executor.find(50)

    assert found is not None and found.external_id == again != first
    assert executor.find(5) is None


def test_logs_are_readable_while_the_job_runs(executor: LocalExecutor, tmp_path: Path) -> None:
    job = _job(60, 'echo one\nwhile [ ! -e "$RELEASE" ]; do sleep 0.02; done\necho two\n',
               env={"RELEASE": str(tmp_path / "release-60")})
    ext_id = executor.submit(job)
    _wait(executor, ext_id, lambda s: executor.read_log(ext_id, "stdout")[0] == b"one\n")
    assert executor.poll([ext_id])[ext_id].state == ExternalState.running
    assert executor.read_log(ext_id, "stdout", offset=1, limit=2) == (b"ne", 3)

    _release(tmp_path, 60)
    _wait(executor, ext_id, _in_state(ExternalState.completed))

    assert executor.read_log(ext_id, "stdout", offset=4) == (b"two\n", 8)


def test_supervisor_killed_without_result_is_reported_failed(
        executor: LocalExecutor, spool: Path, tmp_path: Path) -> None:
    ext_id = executor.submit(_held(70, tmp_path, 'sleep 300 & echo $! > "$OUT/child"\n'))
    child = int(_wait_file(tmp_path / "child"))
    # The job can get this far before its supervisor has recorded the start.
    started = json.loads(_wait_file(spool / "jobs" / ext_id / "run-1" / "started.json",
                                    ends="}"))

    os.kill(started["supervisor_pid"], signal.SIGKILL)

    snapshot = _wait(executor, ext_id, _in_state(ExternalState.failed))
    assert snapshot.reason.startswith("supervisor exited without recording a result")
    _wait_gone([child, started["pid"]])


def test_unknown_ids_are_left_out_of_poll_and_refused_elsewhere(
        executor: LocalExecutor) -> None:
    assert executor.poll(["local-1-999", "../../etc", "slurm-1"]) == {}
    with pytest.raises(UnknownJob):
        executor.cancel("local-1-999")
    with pytest.raises(UnknownJob):
        executor.read_log("../jobs", "stdout")


def test_concurrent_submitters_share_the_slots_and_never_collide(
        spool: Path, tmp_path: Path) -> None:
    executors = [LocalExecutor(spool, gpu_slots=2, time_scale=SCALE) for _ in range(4)]
    ids: list[str] = []

    def submit(executor: LocalExecutor, n: int) -> None:
        for k in range(3):
            record = 'printf "%s\\n" "$CUDA_VISIBLE_DEVICES" >> "$OUT/cvd"\nsleep 0.1\n'
            ids.append(executor.submit(_job(100 + 10 * n + k, record, gpus=2,
                                            env={"OUT": str(tmp_path)})))

    threads = [threading.Thread(target=submit, args=(e, n)) for n, e in enumerate(executors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ext_id in ids:
        _wait(executors[0], ext_id, _in_state(ExternalState.completed), timeout=30)

    assert len(set(ids)) == 12
    assert (tmp_path / "cvd").read_text().split() == ["0,1"] * 12
    # Both jobs need both slots, so runs never overlap.
    runs = sorted((snap.started_at, snap.ended_at) for snap in executors[0].poll(ids).values())
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(runs))
