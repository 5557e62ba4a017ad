"""The whole proposal lifecycle through the API, for every access mode, on both databases."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fabriek.identity.enums import Role
from tests import builders
from tests.conftest import Person

pytestmark = pytest.mark.integration


def _org(client: TestClient, who: Person, **over: object) -> int:
    r = client.post("/api/v1/organisations?vouch=true", json=builders.startup_org(**over),
                    headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _draft(client: TestClient, who: Person, org_id: int, mode: str, **over: object) -> dict:
    r = client.post("/api/v1/proposals", json=builders.proposal(org_id, mode, **over),
                    headers=who.headers)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "draft"
    return r.json()


def test_playground_is_accepted_automatically_with_an_allocation(app_client, make_person):
    applicant = make_person("anna@lumen.example")
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "playground")

    r = app_client.post(f"/api/v1/proposals/{draft['id']}/submit", headers=applicant.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "accepted"
    assert body["reference"].startswith("FAB-") and "PG" in body["reference"]
    assert all(c["passed"] for c in body["checks"]) and len(body["checks"]) == 10
    assert body["gpu_hours_granted"] == 2000
    [allocation_id] = body["allocation_ids"]
    a = app_client.get(f"/api/v1/allocations/{allocation_id}", headers=applicant.headers).json()
    assert (a["factory"], a["partition"], a["gpu_hours"], a["priority_class"], a["state"]) == (
        "local", "gpu", 2000, "entry", "active")
    assert a["gpu_hours_left"] == 2000


def test_playground_failing_checks_is_rejected_naming_each_rule(app_client, make_person):
    applicant = make_person("li@shanghai.example")
    org_id = _org(app_client, applicant, country="CN", registration_id="CN-1")
    draft = _draft(app_client, applicant, org_id, "playground", gpu_hours=9000,
                   civilian_use=False)

    body = app_client.post(f"/api/v1/proposals/{draft['id']}/submit",
                           headers=applicant.headers).json()

    assert body["state"] == "rejected"
    failed = {c["check"] for c in body["checks"] if not c["passed"]}
    assert failed == {"eligibility", "civilian-use", "gpu-hours"}
    assert "CN" in body["decision_reasons"] and "civilian" in body["decision_reasons"]
    assert body["allocation_ids"] == []


def test_fast_lane_needs_a_technical_review_then_an_officer_decision(
        app_client, make_person, officer):
    applicant = make_person("anna@lumen.example")
    reviewer = make_person("rev@uni.example", Role.reviewer)
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "fast-lane", gpu_hours=40_000,
                   duration_months=3)
    submitted = app_client.post(f"/api/v1/proposals/{draft['id']}/submit",
                                headers=applicant.headers).json()
    assert submitted["state"] == "in-review"

    early = app_client.post(f"/api/v1/proposals/{draft['id']}/decision", headers=officer.headers,
                            json={"outcome": "accept", "reasons": "looks fine"})
    assert early.status_code == 409 and "technical" in early.json()["detail"]

    review = app_client.post(f"/api/v1/proposals/{draft['id']}/reviews", headers=officer.headers,
                             json={"reviewer_id": reviewer.user_id, "kind": "technical"}).json()
    r = app_client.post(f"/api/v1/reviews/{review['id']}/submit", headers=reviewer.headers,
                        json={"scores": {"technical-readiness": 4, "resources": 3},
                              "comment_to_applicant": "Ready; trim the request a little.",
                              "private_comment": "Team is strong."})
    assert r.status_code == 200, r.text
    assert r.json()["weighted_score"] == 3.5

    decided = app_client.post(
        f"/api/v1/proposals/{draft['id']}/decision", headers=officer.headers,
        json={"outcome": "accept-reduced", "reasons": "Capacity is tight this quarter.",
              "gpu_hours_granted": 30_000})
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "accepted-reduced"
    seen = app_client.get(f"/api/v1/proposals/{draft['id']}", headers=applicant.headers).json()
    [shown] = seen["reviews"]
    assert shown["comment_to_applicant"] == "Ready; trim the request a little."
    assert shown["private_comment"] is None and shown["reviewer_id"] is None
    allocation = app_client.get(f"/api/v1/allocations/{seen['allocation_ids'][0]}",
                                headers=applicant.headers).json()
    assert (allocation["gpu_hours"], allocation["priority_class"]) == (30_000, "priority")
