"""Fixtures for the Slurm executor: recorded replies, and a real single-node Slurm cluster.

The cluster is started once per session with scripts/slurm-dev-cluster.sh (root only; it
installs Debian's Slurm packages if missing). It is never skipped: if it cannot start, the tests
that need it fail with the reason and the script's output. A cluster that was already running
is reused and left running; one this session started is stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors.base import ExecutorError, ExecutorJob, JobSnapshot
from fabriek.compute.executors.slurm.executor import CliRunner, SlurmExecutor
from fabriek.compute.executors.slurm.provision import ensure_account

RESPONSES = Path(__file__).parent / "responses"
ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "scripts" / "slurm-dev-cluster.sh"
STATE_DIR = Path(os.environ.get("SLURM_DEV_STATE_DIR", "/run/fabriek-slurm"))
TEST_ACCOUNT = "fab-test"
BUDGET_ACCOUNT = "fab-test-budget"
ALL_QOS = ["fabriek-standard", "fabriek-emergency", "fabriek-strategic", "fabriek-priority",
           "fabriek-entry"]


def pytest_configure(config: pytest.Config) -> None:
    # Also to be listed in pyproject's [tool.pytest.ini_options] markers (--strict-markers).
    config.addinivalue_line("markers", "slurm: needs a real Slurm cluster "
                            "(scripts/slurm-dev-cluster.sh, root)")
    config.addinivalue_line("markers", "slow: takes a minute or more on its own")


# ------------------------------------------------------------------------ recorded replies
@cache
def _load(version: str, name: str) -> str:
    return (RESPONSES / version / f"{name}.json").read_text()


def load(version: str, name: str) -> dict[str, Any]:
    """A recorded reply: {"http_status": ..., "body": ...} (a fresh copy each time)."""
    data: dict[str, Any] = json.loads(_load(version, name))
    return data


def job_record(version: str, name: str) -> dict[str, Any]:
    job: dict[str, Any] = load(version, name)["body"]["jobs"][0]
    return job


# ---------------------------------------------------------------------------- the cluster
@dataclass(frozen=True)
class SlurmCluster:
    rest_url: str
    user: str
    token: str
    jwt_key: str
    name: str
    api_version: str


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _script(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    if os.geteuid() != 0:
        pytest.fail("the Slurm tests need root: scripts/slurm-dev-cluster.sh installs and "
                    "starts Slurm (deselect them with -m 'not slurm')", pytrace=False)
    already_running = _script("status", 60).returncode == 0
    try:
        started = _script("start", 900)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"slurm-dev-cluster.sh start did not finish in 900 s\n"
                    f"{_tail(str(exc.stdout or '') + str(exc.stderr or ''))}", pytrace=False)
    if started.returncode != 0:
        pytest.fail(f"slurm-dev-cluster.sh start failed (exit {started.returncode}):\n"
                    f"{_tail(started.stdout + started.stderr)}", pytrace=False)
    env_file = STATE_DIR / "env"
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    try:
        yield SlurmCluster(rest_url=values["SLURM_REST_URL"], user=values["SLURM_REST_USER"],
                           token=values["SLURM_JWT"], jwt_key=values["SLURM_JWT_KEY"],
                           name=values["SLURM_CLUSTER"], api_version=values["SLURM_REST_API"])
    finally:
        subprocess.run(["scancel", f"--account={TEST_ACCOUNT},{BUDGET_ACCOUNT}"],
                       capture_output=True, check=False)
        if not already_running:
            stopped = _script("stop", 300)
            if stopped.returncode != 0:
                print(f"slurm-dev-cluster.sh stop failed:\n{_tail(stopped.stderr)}")


@pytest.fixture(scope="session")
def test_account(slurm_cluster: SlurmCluster) -> str:
    """An account without a practical limit that may use every Fabriek QOS."""
    subprocess.run(["scancel", f"--account={TEST_ACCOUNT},{BUDGET_ACCOUNT}"],
                   capture_output=True, check=False)  # left-overs of an interrupted run
    return ensure_account(TEST_ACCOUNT, 10**7, ALL_QOS, users=[slurm_cluster.user],
                          cluster=slurm_cluster.name)


@pytest.fixture(scope="session")
def scratch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slurm-scratch")


@pytest.fixture(scope="session")
def executor(slurm_cluster: SlurmCluster, test_account: str, scratch_dir: Path
             ) -> Iterator[SlurmExecutor]:
    """Tokens minted from the cluster's JWT key, as the REST user."""
    made = SlurmExecutor(slurm_cluster.rest_url, slurm_cluster.user,
                         jwt_key_path=slurm_cluster.jwt_key, api_version=slurm_cluster.api_version,
                         cluster=slurm_cluster.name, scratch_dir=scratch_dir)
    yield made
    made.close()


_ids = iter(range(int(time.time() * 1000) % 10**12 * 100, 10**15))


def new_job_id() -> int:
    """A platform job id no earlier session used (find() searches 30 days of accounting)."""
    return next(_ids)


@pytest.fixture
def make_job(test_account: str) -> Callable[..., ExecutorJob]:
    def make(body: str, *, gpus: int = 0, minutes: int = 2, qos: str = "fabriek-standard",
             account: str | None = None, name: str = "fbt", memory_mb: int = 256,
             env: dict[str, str] | None = None) -> ExecutorJob:
        return ExecutorJob(job_id=new_job_id(), name=name, script=f"#!/bin/bash\n{body}\n",
                           gpus=gpus, nodes=1, cpus=1, memory_mb=memory_mb,
                           time_limit_minutes=minutes, env=env or {}, partition="gpu",
                           account=account or test_account, qos=qos)
    return make


@pytest.fixture
def submitted(executor: SlurmExecutor) -> Iterator[list[str]]:
    """Ids a test submits; whatever still runs is cancelled when the test ends."""
    ids: list[str] = []
    yield ids
    for external_id in ids:
        with contextlib.suppress(ExecutorError):
            executor.cancel(external_id)


def wait_for(executor: SlurmExecutor, external_id: str,
             done: Callable[[JobSnapshot], bool], timeout: float = 30, interval: float = 0.2
             ) -> JobSnapshot:
    deadline = time.monotonic() + timeout
    snap = None
    while time.monotonic() < deadline:
        snap = executor.poll([external_id]).get(external_id)
        if snap is not None and done(snap):
            return snap
        time.sleep(interval)
    raise AssertionError(f"job {external_id} did not get there in {timeout} s; last: {snap}")


def wait_for_accounting(executor: SlurmExecutor, external_id: str,
                        done: Callable[[JobSnapshot], bool], timeout: float = 30,
                        interval: float = 0.2) -> JobSnapshot:
    """What accounting says of the job, once `done`: slurmctld sends a job's end to slurmdbd
    asynchronously, so just after slurmctld reports the end the database may still say
    PENDING (seen once in CI)."""
    deadline = time.monotonic() + timeout
    snap = None
    while time.monotonic() < deadline:
        snap = executor.accounting_snapshot(external_id)
        if snap is not None and done(snap):
            return snap
        time.sleep(interval)
    raise AssertionError(f"accounting of job {external_id} did not get there in {timeout} s; "
                         f"last: {snap}")


def in_state(*states: ExternalState) -> Callable[[JobSnapshot], bool]:
    return lambda snap: snap.state in states


@pytest.fixture(scope="session")
def cli() -> CliRunner:
    return CliRunner()
