"""The compute ledger through the API and the database, on both backends: figures from jobs
tagged with a model, the owner's basis, crossings recorded once and audited, a warning at job
submission when the worst case would cross a threshold, and organisation scoping."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from fabriek.compliance import ledger
from fabriek.compliance.ledger_gpus import peak_flops_now
from fabriek.compliance.models import LedgerWarning
from fabriek.compute.models import Job
from fabriek.identity.enums import Role
from tests.api import helpers as h
from tests.compute.helpers import job
from tests.conftest import Person

pytestmark = pytest.mark.integration

API = h.API
H100 = 989e12  # policy/gpu-specs.yaml: H100-SXM5-80GB, dense BF16
MODEL = "tulip-7b"


@pytest.fixture
def applicant(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("anna@lumen.example")


@pytest.fixture
def scene(app_client: TestClient, applicant: Person) -> dict[str, Any]:
    org_id = h.org(app_client, applicant)
    allocation_id = h.accepted(app_client, applicant, org_id)["allocation_ids"][0]
    return {"org_id": org_id, "allocation_id": allocation_id}


def _submit(client: TestClient, who: Person, allocation_id: int, **over: Any) -> dict[str, Any]:
    r = client.post(f"{API}/jobs", headers=who.headers,
                    json=job(allocation_id, **{"model": MODEL, **over}))
    assert r.status_code == 201, r.text
    return r.json()


def _used(database, job_id: int, gpu_hours: float) -> None:  # type: ignore[no-untyped-def]
    """What the reconciler records when a job has run (here set directly)."""
    with database.unit_of_work() as s:
        s.execute(update(Job).where(Job.id == job_id).values(gpu_hours_used=gpu_hours,
                                                             state="completed"))


def _ledger(client: TestClient, who: Person, model: str = MODEL, **params: Any):  # type: ignore[no-untyped-def]
    return client.get(f"{API}/act/ledger/{model}", headers=who.headers, params=params)


def test_the_ledger_adds_up_the_models_jobs(app_client, applicant, scene, database):
    first = _submit(app_client, applicant, scene["allocation_id"])
    second = _submit(app_client, applicant, scene["allocation_id"], gpus=2)
    _submit(app_client, applicant, scene["allocation_id"], model="another-model")
    _used(database, first["id"], 10.0)
    _used(database, second["id"], 20.0)

    body = _ledger(app_client, applicant).json()

    assert (body["basis"], body["utilisation"], body["jobs"], body["gpu_hours"]) == (
        "estimate", 0.4, 2, 30.0)
    assert body["flop"] == pytest.approx(30 * 3600 * H100 * 0.4)
    assert [t["reached"] for t in body["thresholds"]] == [False, False]
    assert body["warnings"] == [] and body["worst_case_flop_active"] == 0


def test_the_owner_sets_a_measured_utilisation_or_reports_flop(app_client, applicant, scene,
                                                               database):
    done = _submit(app_client, applicant, scene["allocation_id"])
    _used(database, done["id"], 10.0)

    measured = app_client.put(f"{API}/act/ledger/{MODEL}/basis", headers=applicant.headers,
                              json={"basis": "measured-utilisation", "utilisation": 0.5})
    assert measured.status_code == 200, measured.text
    assert measured.json()["flop"] == pytest.approx(10 * 3600 * H100 * 0.5)
    reported = app_client.put(f"{API}/act/ledger/{MODEL}/basis", headers=applicant.headers,
                              json={"basis": "reported", "reported_flop": 4.2e21}).json()
    assert (reported["basis"], reported["flop"], reported["utilisation"]) == (
        "reported", 4.2e21, None)
    assert h.audit_actions(database, "act.ledger-basis-set") == 2


def test_all_figures_equal_each_models_ledger(app_client, applicant, scene, database):
    """The bulk read (the observatory's) agrees with the ledger read one model at a time."""
    first = _submit(app_client, applicant, scene["allocation_id"])
    other = _submit(app_client, applicant, scene["allocation_id"], model="another-model")
    _used(database, first["id"], 10.0)
    _used(database, other["id"], 2.5)
    app_client.put(f"{API}/act/ledger/another-model/basis", headers=applicant.headers,
                   json={"basis": "measured-utilisation", "utilisation": 0.5})

    with database.unit_of_work(readonly=True) as s:
        bulk = ledger.all_figures(s, peak_flops_now(s))
    assert sorted(bulk) == [(scene["org_id"], "another-model"), (scene["org_id"], MODEL)]
    for (_, model), figures in bulk.items():
        one = _ledger(app_client, applicant, model=model).json()
        assert (figures.flop, figures.basis.value, figures.gpu_hours) == (
            pytest.approx(one["flop"]), one["basis"], one["gpu_hours"])


def test_a_crossing_is_recorded_once_and_audited(app_client, applicant, scene, database):
    _submit(app_client, applicant, scene["allocation_id"])
    for _ in range(2):
        r = app_client.put(f"{API}/act/ledger/{MODEL}/basis", headers=applicant.headers,
                           json={"basis": "reported", "reported_flop": 3e23})
        assert r.status_code == 200, r.text
    body = r.json()
    assert [w["threshold_exponent"] for w in body["warnings"]] == [23]
    assert "10^23" in body["warnings"][0]["message"]
    assert h.audit_actions(database, "act.ledger-threshold-crossed") == 1

    app_client.put(f"{API}/act/ledger/{MODEL}/basis", headers=applicant.headers,
                   json={"basis": "reported", "reported_flop": 1.5e25})
    warnings = _ledger(app_client, applicant).json()["warnings"]
    assert [w["threshold_exponent"] for w in warnings] == [23, 25]
    assert "within two weeks (Article 52(1))" in warnings[1]["message"]


def test_the_reconcilers_accounting_records_crossings_from_used_gpu_hours(
        app_client, applicant, scene, database, access):  # type: ignore[no-untyped-def]
    ran = _submit(app_client, applicant, scene["allocation_id"])
    _used(database, ran["id"], 80_000.0)  # 80,000 H100-hours at 40 %: 1.14e23 FLOP
    for _ in range(2):
        with database.unit_of_work() as s:
            ledger.refresh_allocations(s, {scene["allocation_id"]}, peak_flops_now(s))

    with database.unit_of_work(readonly=True) as s:
        rows = s.execute(select(LedgerWarning)).scalars().all()
        assert [(w.model, w.threshold_exponent, w.basis) for w in rows] == [
            (MODEL, 23, "estimate")]
    assert h.audit_actions(database, "act.ledger-threshold-crossed") == 1


def test_a_job_whose_worst_case_would_cross_is_warned_not_refused(app_client, applicant, scene,
                                                                  database):
    _submit(app_client, applicant, scene["allocation_id"], time_limit_minutes=1)
    # Just under 10^23 by the owner's own figure; one more GPU-hour on an H100 crosses it.
    app_client.put(f"{API}/act/ledger/{MODEL}/basis", headers=applicant.headers,
                   json={"basis": "reported", "reported_flop": 1e23 - 1e17})

    warned = _submit(app_client, applicant, scene["allocation_id"], gpus=1,
                     time_limit_minutes=60)
    plain = app_client.post(f"{API}/jobs", headers=applicant.headers,
                            json=job(scene["allocation_id"], model="small-model"))

    assert warned["state"] == "pending-submit"
    [message] = warned["warnings"]
    assert "would reach" in message and "10^23" in message
    assert plain.json()["warnings"] == []
    # Seen from the ledger too: the queued jobs' worst case would cross.
    assert _ledger(app_client, applicant).json()["projected"] == ["10^23"]
    assert app_client.get(f"{API}/jobs/{warned['id']}",
                          headers=applicant.headers).json()["warnings"] == []


def test_another_organisation_sees_no_ledger(app_client, applicant, scene, make_person, officer
                                             ):  # type: ignore[no-untyped-def]
    _submit(app_client, applicant, scene["allocation_id"])
    other = make_person("bob@other.example")
    other_org = h.org(app_client, other, legal_name="Other B.V.", registration_id="KVK-2")

    h.problem(_ledger(app_client, other, organisation_id=scene["org_id"]), 404, "not_found")
    h.problem(_ledger(app_client, other), 404, "not_found")  # their own: no such model
    h.problem(app_client.put(f"{API}/act/ledger/{MODEL}/basis", headers=other.headers,
                             json={"organisation_id": scene["org_id"], "basis": "estimate"}),
              404, "not_found")
    assert other_org != scene["org_id"]
    assert _ledger(app_client, officer, organisation_id=scene["org_id"]).status_code == 200
    h.problem(app_client.put(f"{API}/act/ledger/{MODEL}/basis", headers=officer.headers,
                             json={"organisation_id": scene["org_id"], "basis": "estimate"}),
              404, "not_found")


def test_a_member_of_two_organisations_names_one(app_client, applicant, scene):
    h.org(app_client, applicant, legal_name="Second B.V.", registration_id="KVK-3")
    body = h.problem(_ledger(app_client, applicant), 422, "validation_failed")
    assert "organisation_id" in body["detail"]
    assert _ledger(app_client, applicant, organisation_id=scene["org_id"]).status_code in (
        200, 404)


@pytest.mark.parametrize("payload", [
    {"basis": "measured-utilisation"}, {"basis": "measured-utilisation", "utilisation": 1.5},
    {"basis": "reported"}, {"basis": "estimate", "utilisation": 0.3}, {"basis": "guess"},
    {"basis": "reported", "reported_flop": -1},
])
def test_bad_basis_payloads_are_problems_and_write_nothing(app_client, applicant, scene,
                                                           database, payload):
    _submit(app_client, applicant, scene["allocation_id"])
    before = h.row_counts(database)
    r = app_client.put(f"{API}/act/ledger/{MODEL}/basis", headers=applicant.headers,
                       json=payload)
    h.problem(r, 422, "validation_failed")
    assert h.row_counts(database) == before


def test_a_bad_model_name_is_refused(app_client, applicant, scene):
    h.problem(_ledger(app_client, applicant, model="a b"), 422, "validation_failed")


def test_reviewers_without_membership_see_no_ledger(app_client, applicant, scene,
                                                    make_person):  # type: ignore[no-untyped-def]
    reviewer = make_person("rev@uni.example", Role.reviewer)
    h.problem(_ledger(app_client, reviewer, organisation_id=scene["org_id"]), 404, "not_found")
