"""Dataset-service runs through the API and the background worker, on SQLite and PostgreSQL:
who may run what, the read log, progress and results, new distributions, leases."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fabriek.datalab import service
from fabriek.datalab.enums import ReadAction
from fabriek.datalab.models import Distribution, Grant, ReadEvent
from fabriek.datalab.run_models import RunState, ServiceRun
from fabriek.datalab.runner import RunnerConfig, ServiceRunner
from fabriek.datalab.schemas import DatasetCreate
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow
from tests.compute.helpers import allocation
from tests.conftest import Person
from tests.datalab.conftest import dataset_body

pytestmark = pytest.mark.integration

VISITS = ("id,age,ward,admitted,note\n" + "".join(
    f"{i},{20 + i % 60},{['A', 'B', 'C'][i % 3]},2024-0{1 + i % 9}-1{i % 10},"
    f"{'call +31 6 12345678' if i == 7 else 'stable'}\n" for i in range(1, 201))).encode()


def _steward_principal(p: Person) -> Principal:
    return Principal(user_id=p.user_id, email=p.email, roles=frozenset({Role.data_steward}))


def publish(app_client: TestClient, database: Any, steward: Person, *, level: str = "approval",
            files: tuple[tuple[str, bytes], ...] = (("visits.csv", VISITS),),
            slug: str = "icu-visits") -> list[int]:
    """A dataset with these files; the distributions' ids."""
    cfg = app_client.app.state.datalab
    ids = []
    with database.unit_of_work() as s:
        me = _steward_principal(steward)
        service.create_dataset(s, me, DatasetCreate(**dataset_body(slug, access_level=level)),
                               cfg=cfg)
        for name, data in files:
            dataset, checked, fmt = service.prepare_upload(s, me, slug, name, cfg=cfg)
            blob = cfg.store.put(io.BytesIO(data), max_bytes=len(data) + 1)
            ids.append(service.add_distribution(s, me, dataset, checked, fmt, blob).id)
    return ids


def start(client: TestClient, who: Person, svc: str, body: dict | None = None,
          slug: str = "icu-visits"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/datalab/datasets/{slug}/services/{svc}",
                       json=body or {}, headers=who.headers)


def drain(client: TestClient) -> list[int]:
    return client.app.state.datalab_runner.run_once()


def show(client: TestClient, who: Person, run_id: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/datalab/service-runs/{run_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def counts(database: Any) -> tuple[int, int, int]:
    with database.unit_of_work(readonly=True) as s:
        return (s.query(ServiceRun).count(), s.query(ReadEvent).count(),
                s.query(Distribution).count())


def test_a_steward_profiles_a_file_and_sees_the_result(app_client, database, steward):
    (dist_id,) = publish(app_client, database, steward)
    r = start(app_client, steward, "profile", {"purpose": "check before release"})
    assert r.status_code == 202, r.text
    run = r.json()
    assert (run["state"], run["progress"], run["distribution_id"]) == ("queued", 0, dist_id)
    assert drain(app_client) == [run["id"]]
    done = show(app_client, steward, run["id"])
    assert (done["state"], done["progress"], done["error"]) == ("done", 1.0, "")
    profile = done["result"]
    assert profile["rows"] == 200
    cols = {c["name"]: c for c in profile["columns"]}
    assert (cols["age"]["min"], cols["age"]["max"]) == (20, 79)
    assert cols["admitted"]["kind"] == "date"
    with database.unit_of_work(readonly=True) as s:
        read = s.query(ReadEvent).one()
        assert (read.action, read.rule, read.distribution_id) == (
            ReadAction.service, "datalab.steward", dist_id)
        assert read.purpose == "data-lab service: profile — check before release"
        assert read.detail == {"run_id": run["id"], "service": "profile"}


def test_convert_adds_a_parquet_distribution_stored_by_its_checksum(app_client, database,
                                                                    steward):
    (dist_id,) = publish(app_client, database, steward)
    run = start(app_client, steward, "convert").json()
    drain(app_client)
    done = show(app_client, steward, run["id"])
    assert done["state"] == "done", done
    assert done["result"]["rows"] == 200
    out = done["result"]["distribution"]
    assert out["file_name"] == "visits.parquet"
    cfg = app_client.app.state.datalab
    with database.unit_of_work(readonly=True) as s:
        dist = s.get(Distribution, done["output_distribution_id"])
        assert dist.derived_from_id == dist_id
        assert dist.media_type == "application/vnd.apache.parquet"
        with cfg.store.open(dist.blob_key) as f:
            data = f.read()
        assert hashlib.sha256(data).hexdigest() == dist.sha256 == out["sha256"]
        assert data[:4] == b"PAR1"
    # The same conversion again makes the same bytes: no second file.
    again = start(app_client, steward, "convert", {"distribution_id": dist_id}).json()
    drain(app_client)
    assert show(app_client, steward, again["id"])["output_distribution_id"] == dist.id
    assert counts(database)[2] == 2
    # Parquet is not converted again.
    r = start(app_client, steward, "convert", {"distribution_id": dist.id})
    assert r.status_code == 400 and "Parquet already" in r.json()["detail"]


def test_a_grantee_may_profile_and_detect_but_not_convert(app_client, database, steward,
                                                          officer, make_person):
    publish(app_client, database, steward)
    applicant = make_person("lab@lumen.example")
    outsider = make_person("someone@else.example")
    alloc_id = allocation(app_client, officer, applicant)
    before = counts(database)
    # Without a grant: refused with the rule, nothing written.
    r = start(app_client, applicant, "profile")
    assert r.status_code == 422 and r.json()["rule"] == "datalab.no-grant", r.text
    assert counts(database) == before
    with database.unit_of_work() as s:
        project = service.project_of_allocation(s, alloc_id)
        now = utcnow()
        grant = Grant(dataset_id=1, organisation_id=project.organisation_id,
                      proposal_id=project.proposal_id, purpose="triage model",
                      expires_at=now + timedelta(days=30), created_at=now)
        s.add(grant)
        s.flush()
        grant_id = grant.id
    run = start(app_client, applicant, "detect-personal-data").json()
    assert run["state"] == "queued"
    r = start(app_client, applicant, "convert")
    assert r.status_code == 403 and "only a data steward" in r.json()["detail"]
    r = start(app_client, applicant, "synthesize")
    assert r.status_code == 403
    drain(app_client)
    done = show(app_client, applicant, run["id"])
    assert done["state"] == "done"
    findings = done["result"]["findings"]
    assert [(f["column"], f["kind"], f["rows"]) for f in findings] == [("note", "phone", [7])]
    assert findings[0]["examples"] == ["+3* * ******78"]
    # The steward sees it; a stranger learns nothing of it.
    assert show(app_client, steward, run["id"])["requested_by"] == applicant.email
    r = app_client.get(f"/api/v1/datalab/service-runs/{run['id']}", headers=outsider.headers)
    assert r.status_code == 404
    listed = app_client.get("/api/v1/datalab/datasets/icu-visits/service-runs",
                            headers=steward.headers).json()["items"]
    assert [x["id"] for x in listed] == [run["id"]]
    assert app_client.get("/api/v1/datalab/datasets/icu-visits/service-runs",
                          headers=outsider.headers).json()["items"] == []
    with database.unit_of_work(readonly=True) as s:
        read = s.query(ReadEvent).one()
        assert (read.who, read.rule, read.grant_id, read.organisation_id) == (
            applicant.email, "datalab.grant", grant_id, project.organisation_id)
        assert read.purpose == "data-lab service: detect-personal-data"


def test_a_grant_revoked_while_the_run_waits_stops_it(app_client, database, steward, officer,
                                                      make_person):
    publish(app_client, database, steward)
    applicant = make_person("lab@lumen.example")
    alloc_id = allocation(app_client, officer, applicant)
    with database.unit_of_work() as s:
        project = service.project_of_allocation(s, alloc_id)
        now = utcnow()
        s.add(Grant(dataset_id=1, organisation_id=project.organisation_id,
                    proposal_id=project.proposal_id, purpose="triage model",
                    expires_at=now + timedelta(days=30), created_at=now))
    run = start(app_client, applicant, "profile").json()
    with database.unit_of_work() as s:
        s.query(Grant).update({Grant.revoked_at: utcnow()})
    drain(app_client)
    done = show(app_client, applicant, run["id"])
    assert (done["state"], done["result"]) == ("failed", None)
    assert "no longer allowed" in done["error"] and "revoked" in done["error"]


def test_bad_requests_are_refused_and_write_nothing(app_client, database, steward):
    publish(app_client, database, steward, files=(("visits.csv", VISITS),
                                                  ("readme.md", b"# about\n")))
    before = counts(database)
    cases = [
        ("validate", {}, 400, "needs expected_schema"),
        ("profile", {"rows": 10}, 400, "profile takes no rows"),
        ("profile", {"distribution_id": 2}, 400, "not a tabular format"),
        ("profile", {"distribution_id": 99}, 404, ""),
        ("validate", {"expected_schema": {"columns": [{"name": "a", "type": "text",
                                                        "min": 1}]}}, 422, ""),
        ("teleport", {}, 422, ""),
    ]
    for svc, body, status, message in cases:
        r = start(app_client, steward, svc, body)
        assert r.status_code == status, (svc, body, r.text)
        assert message in r.text, (svc, body, r.text)
    assert start(app_client, steward, "profile", slug="no-such").status_code == 404
    assert counts(database) == before


def test_validation_reports_violations_and_a_broken_file_fails_the_run(app_client, database,
                                                                       steward):
    publish(app_client, database, steward, files=(
        ("visits.csv", VISITS), ("broken.json", b'{"a": 1}\n{"a": ')))
    schema = {"columns": [{"name": "age", "type": "integer", "max": 70},
                          {"name": "ward", "allowed": ["A", "B"]}]}
    run = start(app_client, steward, "validate", {"distribution_id": 1,
                                                  "expected_schema": schema}).json()
    broken = start(app_client, steward, "convert", {"distribution_id": 2}).json()
    drain(app_client)
    report = show(app_client, steward, run["id"])["result"]
    found = {(v["column"], v["rule"]): v["count"] for v in report["violations"]}
    assert found == {("age", "max"): 27, ("ward", "allowed"): 67}
    failed = show(app_client, steward, broken["id"])
    assert failed["state"] == "failed" and "cannot convert the file from jsonl" in \
        failed["error"]
    assert counts(database)[2] == 2  # no file added


def test_two_workers_never_run_the_same_run_and_a_dead_ones_run_is_taken_over(
        app_client, database, steward, tmp_path):
    publish(app_client, database, steward)
    cfg = app_client.app.state.datalab
    config = RunnerConfig(work_dir=tmp_path / "work", lease_seconds=60)
    a = ServiceRunner(database, cfg, config, worker_id="worker-a")
    b = ServiceRunner(database, cfg, config, worker_id="worker-b")
    run_id = start(app_client, steward, "profile").json()["id"]
    assert a.claim() == run_id
    assert b.claim() is None  # leased to a
    # a dies; after its lease b takes the run over and finishes it.
    later = utcnow() + timedelta(seconds=61)
    assert b.claim(later) == run_id
    b.execute(run_id)
    a.execute(run_id)  # a wakes up: its lease is gone, it writes nothing
    done = show(app_client, steward, run_id)
    assert done["state"] == "done" and done["result"]["rows"] == 200
    with database.unit_of_work(readonly=True) as s:
        run = s.get(ServiceRun, run_id)
        assert (run.attempts, run.lease_owner) == (2, None)


def test_a_run_whose_workers_keep_dying_fails_after_three_attempts(app_client, database,
                                                                   steward, tmp_path):
    publish(app_client, database, steward)
    runner = ServiceRunner(database, app_client.app.state.datalab,
                           RunnerConfig(work_dir=tmp_path / "w", lease_seconds=10))
    run_id = start(app_client, steward, "profile").json()["id"]
    moment = utcnow()
    for _ in range(3):
        assert runner.claim(moment) == run_id
        moment += timedelta(seconds=11)
    assert runner.claim(moment) is None
    done = show(app_client, steward, run_id)
    assert done["state"] == "failed" and "gave up after 3 attempts" in done["error"]
    with database.unit_of_work(readonly=True) as s:
        assert s.get(ServiceRun, run_id).state is RunState.failed


def test_synthesize_adds_a_synthetic_distribution_with_the_same_columns(app_client, database,
                                                                        steward):
    publish(app_client, database, steward)
    run = start(app_client, steward, "synthesize", {"rows": 50, "fit_rows": 100,
                                                    "output_format": "csv"}).json()
    drain(app_client)
    done = show(app_client, steward, run["id"])
    assert done["state"] == "done", done
    result = done["result"]
    assert result["distribution"]["file_name"] == "visits.synthetic.csv"
    assert [c["name"] for c in result["columns"]] == ["id", "age", "ward", "admitted", "note"]
    cfg = app_client.app.state.datalab
    with database.unit_of_work(readonly=True) as s:
        dist = s.get(Distribution, done["output_distribution_id"])
        with cfg.store.open(dist.blob_key) as f:
            lines = f.read().decode().splitlines()
    assert lines[0] == "id,age,ward,admitted,note" and len(lines) == 51
    assert {line.split(",")[2] for line in lines[1:]} <= {"A", "B", "C"}
