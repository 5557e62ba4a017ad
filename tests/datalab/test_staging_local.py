"""Staging datasets next to jobs on the local executor, through the API, the broker and the
reconciler: refused without a grant (nothing written), staged read-only and verified with
one, read log entries; a grant that expires or is revoked between submission and hand-over,
and a tampered blob, fail the job before it starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fabriek.api.app import create_app
from fabriek.audit.models import AuditEvent
from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.models import Job
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
from tests.compute import helpers as h
from tests.datalab import staging_helpers as sh

pytestmark = pytest.mark.integration
KEY = ("local", "gpu")
READ_IT = ('set -e\ncat "$FABRIEK_DATASETS_DIR/icu-vitals/vitals.csv"\n'
           'stat -c %a "$FABRIEK_DATASETS_DIR/icu-vitals/vitals.csv" '
           '"$FABRIEK_DATASETS_DIR/icu-vitals"\n')


@pytest.fixture
def local(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(tmp_path / "spool", gpu_slots=4, grace_seconds=0.5)


@pytest.fixture
def executors(local: LocalExecutor) -> Executors:
    return Executors(by_partition={KEY: local}, partitions={KEY: PartitionProfile(
        *KEY, "H100-SXM5-80GB", 80, 4, 1, CapacityBasis.operator, ExecutorKind.local)})


@pytest.fixture
def cfg(tmp_path: Path) -> DatalabConfig:
    return DatalabConfig(policy=DatalabPolicy.load(), store=LocalBlobStore(tmp_path / "blobs"))


@pytest.fixture
def reconciler(database, executors, access, cfg) -> Reconciler:  # type: ignore[no-untyped-def]
    return Reconciler(database, executors, access, worker_id="staging-test", datalab=cfg)


@pytest.fixture
def client(database, access, executors, cfg, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(Settings(data_dir=tmp_path), database=database, access=access,
                     executors=executors, run_reconciler=False, datalab=cfg)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def steward(make_person):  # type: ignore[no-untyped-def]
    return make_person("steward@umc.example", Role.data_steward)


def _counts(database) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work(readonly=True) as s:
        jobs = s.execute(select(func.count()).select_from(Job)).scalar_one()
        submitted = s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "job.submitted")).scalar_one()
    return jobs, submitted


def _job(database, job_id: int) -> Job:  # type: ignore[no-untyped-def]
    with database.unit_of_work(readonly=True) as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def test_refused_without_a_grant_and_staged_with_one(client, reconciler, database, cfg,
                                                    local, steward, officer, make_person):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    dataset_id = sh.publish(database, cfg, steward, "icu-vitals", level="approval")

    r = client.post("/api/v1/jobs", headers=anna.headers, json=h.job(
        allocation_id, gpus=0, datasets=["icu-vitals"], script=READ_IT, command=None))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["rule"] == "datalab.no-grant" and problem["dataset"] == "icu-vitals"
    assert "dataset icu-vitals" in problem["detail"] and "request access" in problem["detail"]
    assert _counts(database) == (0, 0)  # nothing written
    assert sh.reads(database) == []

    sh.grant(database, dataset_id, allocation_id, purpose="train a triage model")
    r = client.post("/api/v1/jobs", headers=anna.headers, json=h.job(
        allocation_id, gpus=0, datasets=["icu-vitals"], script=READ_IT, command=None))
    assert r.status_code == 201, r.text
    done = h.until(reconciler, client, anna, r.json()["id"],
                   lambda j: j["state"] in ("completed", "failed"))
    logs = client.get(f"/api/v1/jobs/{done['id']}/logs", headers=anna.headers).text
    assert done["state"] == "completed", (done, logs)
    # The job read the file where FABRIEK_DATASETS_DIR points, read-only (file and folder).
    assert logs.split() == ["hour,heart_rate", "0,72", "1,75", "444", "555"]

    [read] = sh.reads(database)
    assert (read.action, read.who, read.purpose, read.job_id, read.rule) == (
        ReadAction.stage, "anna@lumen.example", "train a triage model", done["id"],
        "datalab.grant")
    assert read.dataset_id == dataset_id and read.grant_id is not None
    assert read.detail["files"] == {"vitals.csv": sh.sha256(sh.CSV)}


def test_unknown_or_withdrawn_datasets_are_refused_with_their_name(client, database, officer,
                                                                 make_person):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    r = client.post("/api/v1/jobs", headers=anna.headers,
                    json=h.job(allocation_id, datasets=["no-such-data"]))
    assert r.status_code == 422
    assert r.json()["rule"] == "datalab.unknown-dataset"
    assert "no-such-data" in r.json()["detail"]
    r = client.post("/api/v1/jobs", headers=anna.headers,
                    json=h.job(allocation_id, datasets=["../../etc"]))
    assert r.status_code == 422 and "datasets" in r.text  # not even a valid name
    assert _counts(database) == (0, 0)


def test_open_data_needs_no_grant_and_another_organisations_grant_is_no_help(
        client, reconciler, database, cfg, steward, officer, make_person):
    anna, bert = make_person("anna@lumen.example"), make_person("bert@other.example")
    mine = h.allocation(client, officer, anna)
    theirs = h.allocation(client, officer, bert, legal_name="Other Labs BV",
                          registration_id="OL-2")
    sh.publish(database, cfg, steward, "open-trace", level="open")
    closed = sh.publish(database, cfg, steward, "icu-vitals", level="approval")
    sh.grant(database, closed, theirs)  # bert's organisation, bert's project

    r = client.post("/api/v1/jobs", headers=anna.headers, json=h.job(
        mine, gpus=0, datasets=["icu-vitals"]))
    assert r.status_code == 422 and r.json()["rule"] == "datalab.no-grant"
    r = client.post("/api/v1/jobs", headers=anna.headers, json=h.job(
        mine, gpus=0, datasets=["open-trace"],
        command=["bash", "-c", 'ls "$FABRIEK_DATASETS_DIR/open-trace"']))
    assert r.status_code == 201, r.text
    done = h.until(reconciler, client, anna, r.json()["id"], lambda j: j["state"] == "completed")
    assert client.get(f"/api/v1/jobs/{done['id']}/logs",
                      headers=anna.headers).text == "vitals.csv\n"
    [read] = sh.reads(database)
    assert read.rule == "datalab.open" and read.grant_id is None and read.purpose == ""


def test_permit_level_needs_a_grant_with_a_permit(client, database, cfg, steward, officer,
                                                  make_person):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    dataset_id = sh.publish(database, cfg, steward, "ehds-cohort", level="permit")
    sh.grant(database, dataset_id, allocation_id)  # approved, but without a permit
    r = client.post("/api/v1/jobs", headers=anna.headers,
                    json=h.job(allocation_id, gpus=0, datasets=["ehds-cohort"]))
    assert r.status_code == 422 and "permit" in r.json()["detail"]
    sh.grant(database, dataset_id, allocation_id, permit="HDAB-NL-2026-0042")
    r = client.post("/api/v1/jobs", headers=anna.headers,
                    json=h.job(allocation_id, gpus=0, datasets=["ehds-cohort"]))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("change", ["expired", "revoked"])
def test_a_grant_gone_between_submission_and_hand_over_fails_the_job(
        change, client, reconciler, database, cfg, local, steward, officer, make_person):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    dataset_id = sh.publish(database, cfg, steward, "icu-vitals")
    grant_id = sh.grant(database, dataset_id, allocation_id)
    r = client.post("/api/v1/jobs", headers=anna.headers, json=h.job(
        allocation_id, gpus=0, datasets=["icu-vitals"], command=["touch", "/tmp/never"]))
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]

    now = utcnow()
    sh.set_grant(database, grant_id, **({"expires_at": now} if change == "expired"
                                        else {"revoked_at": now}))
    reconciler.run_once()

    job = _job(database, job_id)
    assert job.state.value == "failed" and job.external_id is None
    assert "its datasets were not staged" in job.reason and "icu-vitals" in job.reason
    assert change in job.reason  # "expired on ..." / "was revoked"
    assert local.find(job_id) is None  # it never reached the executor
    assert sh.reads(database) == []


def test_a_tampered_blob_fails_the_job_before_it_starts(client, reconciler, database, cfg,
                                                        local, steward, officer, make_person):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    dataset_id = sh.publish(database, cfg, steward, "icu-vitals")
    sh.grant(database, dataset_id, allocation_id)
    r = client.post("/api/v1/jobs", headers=anna.headers, json=h.job(
        allocation_id, gpus=0, datasets=["icu-vitals"], command=["echo", "it ran"]))
    assert r.status_code == 201, r.text
    sh.tamper(database, cfg, dataset_id, b"hour,heart_rate\n0,99\n1,75\n")  # same size

    reconciler.run_once()

    job = _job(database, r.json()["id"])
    assert job.state.value == "failed" and job.external_id is None and job.started_at is None
    assert "vitals.csv does not match its checksum" in job.reason
    assert "was not started" in job.reason
    assert local.find(job.id) is None
    assert sh.reads(database) == []  # nothing was read


def test_a_job_that_writes_to_its_staged_copy_cannot_alter_the_store(
        client, reconciler, database, cfg, local, steward, officer, make_person):
    """Local jobs run as the broker's own user, who may chmod any file it owns: the staged
    file is a copy, so the next job still gets the data as published."""
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(client, officer, anna)
    dataset_id = sh.publish(database, cfg, steward, "icu-vitals")
    sh.grant(database, dataset_id, allocation_id)
    overwrite = ('f="$FABRIEK_DATASETS_DIR/icu-vitals/vitals.csv"\n'
                 'chmod u+w "$f" && echo "hour,heart_rate" > "$f" && cat "$f"\n')
    r = client.post("/api/v1/jobs", headers=anna.headers, json=h.job(
        allocation_id, gpus=0, datasets=["icu-vitals"], script=overwrite, command=None))
    assert r.status_code == 201, r.text
    done = h.until(reconciler, client, anna, r.json()["id"],
                   lambda j: j["state"] in ("completed", "failed"))
    assert done["state"] == "completed", done

    r = client.post("/api/v1/jobs", headers=anna.headers, json=h.job(
        allocation_id, gpus=0, datasets=["icu-vitals"], script=READ_IT, command=None))
    second = h.until(reconciler, client, anna, r.json()["id"],
                     lambda j: j["state"] in ("completed", "failed"))
    logs = client.get(f"/api/v1/jobs/{second['id']}/logs", headers=anna.headers).text
    assert second["state"] == "completed", (second, logs)
    assert logs.split()[:3] == ["hour,heart_rate", "0,72", "1,75"]
