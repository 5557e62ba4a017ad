"""Staging datasets next to jobs on the real Slurm dev cluster, through the API, the broker and
the reconciler: refused without a grant, staged into the scratch area (held, copied, verified,
released) with one and read by the job; a tampered file or a grant revoked before hand-over
fails the job, which never runs."""

from __future__ import annotations

import functools
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fabriek.api.app import create_app
from fabriek.compute.executors.slurm.executor import SlurmExecutor
from fabriek.compute.reconciler import Reconciler
from fabriek.compute.registry import Executors
from fabriek.datalab.enums import ReadAction
from fabriek.datalab.policy_files import DatalabPolicy
from fabriek.datalab.service import DatalabConfig
from fabriek.datalab.storage import LocalBlobStore
from fabriek.federation.domain import CapacityBasis, ExecutorKind, PartitionProfile
from fabriek.identity.enums import Role
from fabriek.kit.clock import utcnow
from fabriek.settings import Settings
from tests import builders
from tests.compute import helpers as h
from tests.compute.executors.slurm.conftest import SlurmCluster
from tests.datalab import staging_helpers as sh
from tests.support.federation import add_factory

pytestmark = [pytest.mark.integration, pytest.mark.slurm]
KEY = ("slurm-dev", "gpu")
PARTITION = PartitionProfile(*KEY, "H100-SXM5-80GB", 80, 4, 1, CapacityBasis.operator,
                             ExecutorKind.slurm)
READ_IT = ('set -e\ncat "$FABRIEK_DATASETS_DIR/icu-vitals/vitals.csv"\n'
           'stat -c %a "$FABRIEK_DATASETS_DIR/icu-vitals/vitals.csv"\n')
until = functools.partial(h.until, timeout=60, interval=0.3)


@pytest.fixture
def cfg(tmp_path: Path) -> DatalabConfig:
    return DatalabConfig(policy=DatalabPolicy.load(), store=LocalBlobStore(tmp_path / "blobs"))


@pytest.fixture
def slurm(slurm_cluster: SlurmCluster, scratch_dir: Path) -> Iterator[SlurmExecutor]:
    executor = SlurmExecutor(slurm_cluster.rest_url, slurm_cluster.user,
                             jwt_key_path=slurm_cluster.jwt_key,
                             api_version=slurm_cluster.api_version, cluster=slurm_cluster.name,
                             scratch_dir=scratch_dir, namespace=uuid.uuid4().hex[:12])
    yield executor
    executor.close()


@pytest.fixture
def platform(database, access, slurm, cfg, tmp_path: Path  # type: ignore[no-untyped-def]
             ) -> Iterator[tuple[TestClient, Reconciler]]:
    with database.unit_of_work() as s:
        add_factory(s, KEY[0], number=90, executor=ExecutorKind.slurm, country="NL")
    executors = Executors(by_partition={KEY: slurm}, partitions={KEY: PARTITION})
    reconciler = Reconciler(database, executors, access, worker_id="slurm-staging", datalab=cfg)
    app = create_app(Settings(data_dir=tmp_path), database=database, access=access,
                     executors=executors, run_reconciler=False, datalab=cfg)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, reconciler


def _allocation(client: TestClient, officer, who) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/organisations?vouch=true", json=builders.startup_org(),
                    headers=who.headers)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/allocations/direct", headers=officer.headers, json={
        **builders.proposal(r.json()["id"], "strategic", gpu_hours=50, duration_months=1),
        "reasons": "test allocation", "factory": KEY[0], "partition": KEY[1],
        "override_reason": "the Slurm cluster under test"})
    assert r.status_code == 201, r.text
    return r.json()["allocation_ids"][0]


def _submit(client: TestClient, who, allocation_id: int, **over):  # type: ignore[no-untyped-def]
    # A name of its own: job ids start again at 1 on each database, and the scratch area
    # (<name>-<id>/) lives for the whole session.
    return client.post("/api/v1/jobs", headers=who.headers, json=h.job(
        allocation_id, gpus=0, time_limit_minutes=2, datasets=["icu-vitals"],
        name=f"stage-{uuid.uuid4().hex[:8]}", **over))


def test_refused_without_a_grant_and_staged_into_scratch_with_one(
        platform, database, cfg, slurm, make_person, officer):
    client, reconciler = platform
    steward = make_person("steward@umc.example", Role.data_steward)
    anna = make_person("anna@lumen.example")
    allocation_id = _allocation(client, officer, anna)
    dataset_id = sh.publish(database, cfg, steward, "icu-vitals")

    refused = _submit(client, anna, allocation_id)
    assert refused.status_code == 422 and refused.json()["rule"] == "datalab.no-grant"

    sh.grant(database, dataset_id, allocation_id, purpose="sepsis early warning")
    r = _submit(client, anna, allocation_id, script=READ_IT, command=None)
    assert r.status_code == 201, r.text
    done = until(reconciler, client, anna, r.json()["id"],
                 lambda j: j["state"] in ("completed", "failed", "cancelled"))
    logs = client.get(f"/api/v1/jobs/{done['id']}/logs", headers=anna.headers).text
    assert done["state"] == "completed", (done, logs)
    assert logs.split() == ["hour,heart_rate", "0,72", "1,75", "444"]
    staged = slurm.scratch_dir / f"{done['name']}-{done['id']}" / "datasets" / "icu-vitals"
    assert stat.S_IMODE((staged / "vitals.csv").stat().st_mode) == 0o444
    [read] = sh.reads(database)
    assert (read.action, read.who, read.purpose, read.job_id) == (
        ReadAction.stage, "anna@lumen.example", "sepsis early warning", done["id"])
    assert read.detail["site"] == "slurm-dev/gpu"


def test_a_tampered_file_or_a_revoked_grant_fails_the_job_on_slurm(
        platform, database, cfg, slurm, make_person, officer):
    client, reconciler = platform
    steward = make_person("steward@umc.example", Role.data_steward)
    anna = make_person("anna@lumen.example")
    allocation_id = _allocation(client, officer, anna)
    dataset_id = sh.publish(database, cfg, steward, "icu-vitals")
    grant_id = sh.grant(database, dataset_id, allocation_id)
    # Provision the allocation's account first, so the next pass hands the jobs over.
    reconciler.run_once()

    tampered = _submit(client, anna, allocation_id, command=["echo", "it ran"]).json()
    sh.tamper(database, cfg, dataset_id, b"hour,heart_rate\n0,99\n1,75\n")
    failed = until(reconciler, client, anna, tampered["id"], lambda j: j["state"] == "failed")
    assert "does not match its checksum" in failed["reason"] and failed["started_at"] is None
    held = slurm.find(tampered["id"])  # submitted held, then cancelled: it never ran
    assert held is not None and held.state.value == "cancelled" and held.started_at is None

    sh.tamper(database, cfg, dataset_id, sh.CSV)  # the original content again
    revoked = _submit(client, anna, allocation_id, command=["echo", "it ran"]).json()
    sh.set_grant(database, grant_id, revoked_at=utcnow())
    failed = until(reconciler, client, anna, revoked["id"], lambda j: j["state"] == "failed")
    assert "was revoked" in failed["reason"] and failed["external_id"] is None
    assert slurm.find(revoked["id"]) is None
    assert sh.reads(database) == []
