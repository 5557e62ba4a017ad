"""The whole platform on the real Slurm dev cluster: API → broker → reconciler → slurmrestd.

Covers the provisioning of an allocation's account, the job lifecycle (complete, fail, cancel)
and an outage of slurmctld: jobs are neither lost nor submitted twice, and states converge;
with a second site, new jobs go around the silent factory and the jobs already there are
reconciled when it answers again.
"""

from __future__ import annotations

import functools
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fabriek.api.app import create_app
from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.executors.slurm.executor import SlurmExecutor
from fabriek.compute.executors.slurm.provision import account_state
from fabriek.compute.models import SiteHealth
from fabriek.compute.reconciler import Reconciler, account_of
from fabriek.compute.registry import Executors
from fabriek.federation.domain import CapacityBasis, ExecutorKind, PartitionProfile
from fabriek.settings import Settings
from tests import builders
from tests.compute import helpers as h
from tests.compute.executors.slurm.conftest import SCRIPT, SlurmCluster
from tests.support.federation import add_factory

pytestmark = [pytest.mark.integration, pytest.mark.slurm]
KEY = ("slurm-dev", "gpu")
LOCAL = ("local", "gpu")
PARTITION = PartitionProfile(*KEY, "H100-SXM5-80GB", 80, 4, 1, CapacityBasis.operator,
                             ExecutorKind.slurm)


@pytest.fixture
def slurm_executor(slurm_cluster: SlurmCluster, scratch_dir: Path) -> Iterator[SlurmExecutor]:
    executor = SlurmExecutor(slurm_cluster.rest_url, slurm_cluster.user,
                             jwt_key_path=slurm_cluster.jwt_key,
                             api_version=slurm_cluster.api_version, cluster=slurm_cluster.name,
                             scratch_dir=scratch_dir, namespace=uuid.uuid4().hex[:12])
    yield executor
    executor.close()


def _platform(database, access, executors: Executors, tmp_path: Path  # type: ignore[no-untyped-def]
              ) -> Iterator[tuple[TestClient, Reconciler]]:
    with database.unit_of_work() as s:  # the dev cluster, registered as a connected factory
        add_factory(s, KEY[0], number=90, executor=ExecutorKind.slurm, country="NL")
    reconciler = Reconciler(database, executors, access, worker_id="slurm-test")
    app = create_app(Settings(data_dir=tmp_path), database=database, access=access,
                     executors=executors, run_reconciler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, reconciler


@pytest.fixture
def platform(database, access, slurm_executor, tmp_path: Path  # type: ignore[no-untyped-def]
             ) -> Iterator[tuple[TestClient, Reconciler]]:
    yield from _platform(database, access, Executors(by_partition={KEY: slurm_executor},
                                                     partitions={KEY: PARTITION}), tmp_path)


@pytest.fixture
def two_sites(database, access, slurm_executor, tmp_path: Path  # type: ignore[no-untyped-def]
              ) -> Iterator[tuple[TestClient, Reconciler]]:
    local = LocalExecutor(tmp_path / "spool", gpu_slots=4, grace_seconds=0.5)
    executors = Executors(
        by_partition={KEY: slurm_executor, LOCAL: local},
        partitions={KEY: PARTITION, LOCAL: PartitionProfile(
            *LOCAL, "H100-SXM5-80GB", 80, 4, 1, CapacityBasis.operator, ExecutorKind.local)})
    yield from _platform(database, access, executors, tmp_path)


# Slurm is slower than the local executor: longer patience, fewer polls.
until = functools.partial(h.until, timeout=60, interval=0.3)


def _submit(client: TestClient, who, allocation_id: int, **over) -> dict:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/jobs", json=h.job(allocation_id, **over), headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def _allocation(client: TestClient, officer, who, slurm_cluster: SlurmCluster) -> int:  # type: ignore[no-untyped-def]
    """A strategic allocation on the dev cluster (the officer overrides the referral, which
    prefers the embedded factory)."""
    r = client.post("/api/v1/organisations?vouch=true", json=builders.startup_org(),
                    headers=who.headers)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/allocations/direct", headers=officer.headers, json={
        **builders.proposal(r.json()["id"], "strategic", gpu_hours=50, duration_months=1),
        "reasons": "test allocation", "factory": KEY[0], "partition": KEY[1],
        "override_reason": "the Slurm cluster under test"})
    assert r.status_code == 201, r.text
    return r.json()["allocation_ids"][0]


def test_job_lifecycle_on_slurm_with_provisioning(platform, make_person, officer, slurm_cluster):
    client, reconciler = platform
    anna = make_person("anna@lumen.example")
    allocation_id = _allocation(client, officer, anna, slurm_cluster)
    ok = _submit(client, anna, allocation_id, gpus=1, time_limit_minutes=2,
                 command=["bash", "-c", "echo on $CUDA_VISIBLE_DEVICES"])
    bad = _submit(client, anna, allocation_id, gpus=0, time_limit_minutes=2, name="bad",
                  command=["bash", "-c", "exit 3"])
    long = _submit(client, anna, allocation_id, gpus=0, time_limit_minutes=2, name="long",
                   command=["sleep", "300"])

    done = until(reconciler, client, anna, ok["id"], lambda j: j["state"] == "completed")
    assert done["exit_code"] == 0 and done["external_id"]
    state = account_state(account_of(allocation_id), cluster=slurm_cluster.name)
    assert state is not None and state.gpu_minutes_limit == 50 * 60
    assert "fabriek-strategic" in state.qos
    assert client.get(f"/api/v1/jobs/{ok['id']}/logs", headers=anna.headers).text.startswith(
        "on ")
    failed = until(reconciler, client, anna, bad["id"], lambda j: j["state"] == "failed")
    assert failed["exit_code"] == 3

    until(reconciler, client, anna, long["id"], lambda j: j["state"] == "running")
    client.post(f"/api/v1/jobs/{long['id']}/cancel", headers=anna.headers)
    cancelled = until(reconciler, client, anna, long["id"], lambda j: j["state"] == "cancelled")
    assert cancelled["gpu_hours_used"] == 0  # 0 GPUs


def _ctld(command: str) -> None:
    done = subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _slurm_jobs_with_comment(reconciler: Reconciler, job_id: int) -> int:
    namespace = reconciler.executors.get(*KEY).namespace  # type: ignore[attr-defined]
    out = subprocess.run(["squeue", "-h", "-a", "-t", "all", "-o", "%k"], capture_output=True,
                         text=True, check=False).stdout.split()
    return sum(1 for comment in out if comment == f"fabriek:{namespace}:job={job_id}")


def test_slurmctld_outage_loses_no_job_and_states_converge(platform, make_person, officer,
                                                           slurm_cluster):
    client, reconciler = platform
    anna = make_person("anna@lumen.example")
    allocation_id = _allocation(client, officer, anna, slurm_cluster)
    running = _submit(client, anna, allocation_id, gpus=0, time_limit_minutes=2,
                      command=["sleep", "20"])
    until(reconciler, client, anna, running["id"], lambda j: j["state"] == "running")

    _ctld("ctld-stop")
    try:
        during = _submit(client, anna, allocation_id, gpus=0, time_limit_minutes=2,
                         name="during", command=["bash", "-c", "echo after the outage"])
        outage_until = time.monotonic() + 30
        while time.monotonic() < outage_until:
            report = reconciler.run_once()
            assert report.submitted == []  # nothing can be handed over
            time.sleep(1)
        mid = client.get(f"/api/v1/jobs/{during['id']}", headers=anna.headers).json()
        assert mid["state"] == "pending-submit" and "does not answer" in mid["reason"]
        assert client.get(f"/api/v1/jobs/{running['id']}",
                          headers=anna.headers).json()["state"] == "running"
    finally:
        _ctld("ctld-start")

    first = until(reconciler, client, anna, running["id"], lambda j: j["state"] == "completed",
                  timeout=120)
    second = until(reconciler, client, anna, during["id"], lambda j: j["state"] == "completed",
                   timeout=120)
    assert first["exit_code"] == 0 and second["exit_code"] == 0
    assert _slurm_jobs_with_comment(reconciler, running["id"]) == 1
    assert _slurm_jobs_with_comment(reconciler, during["id"]) == 1


def test_new_jobs_go_around_a_silent_factory_and_its_jobs_converge_when_it_is_back(
        two_sites, make_person, officer, slurm_cluster, database):
    client, reconciler = two_sites
    anna = make_person("anna@lumen.example")
    allocation_id = _allocation(client, officer, anna, slurm_cluster)
    sites = client.get(f"/api/v1/allocations/{allocation_id}", headers=anna.headers).json()
    assert [(x["factory"], x["home"]) for x in sites["sites"]] == [(KEY[0], True),
                                                                   (LOCAL[0], False)]
    there = _submit(client, anna, allocation_id, gpus=0, time_limit_minutes=2,
                    command=["sleep", "15"])
    assert there["factory"] == KEY[0]  # both idle: the home site, where the capacity is held
    until(reconciler, client, anna, there["id"], lambda j: j["state"] == "running")

    _ctld("ctld-stop")
    try:
        reconciler.run_once()  # the probe finds the factory silent
        around = _submit(client, anna, allocation_id, gpus=1, time_limit_minutes=2,
                         name="around", command=["bash", "-c", "echo placed elsewhere"])
        assert around["factory"] == LOCAL[0]
        done = until(reconciler, client, anna, around["id"],
                     lambda j: j["state"] == "completed")
        assert done["exit_code"] == 0
        assert client.get(f"/api/v1/jobs/{there['id']}",
                          headers=anna.headers).json()["state"] == "running"  # not given up
    finally:
        _ctld("ctld-start")

    back = until(reconciler, client, anna, there["id"], lambda j: j["state"] == "completed",
                 timeout=120)
    assert back["exit_code"] == 0 and back["factory"] == KEY[0]
    assert _slurm_jobs_with_comment(reconciler, there["id"]) == 1
    with database.unit_of_work(readonly=True) as s:
        health = s.get(SiteHealth, KEY)
        assert health is not None and health.reachable
