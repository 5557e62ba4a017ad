"""The whole proposal lifecycle through the API, for every access mode, on both databases."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fabriek.identity.enums import Role
from tests import builders
from tests.api.helpers import draft
from tests.conftest import Person

pytestmark = pytest.mark.integration


def _org(client: TestClient, who: Person, **over: object) -> int:
    r = client.post("/api/v1/organisations?vouch=true", json=builders.startup_org(**over),
                    headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _draft(client: TestClient, who: Person, org_id: int, mode: str, **over: object) -> dict:
    return draft(client, who, org_id, mode, **over)  # with its AI Act self-assessment


def test_playground_is_accepted_automatically_with_an_allocation(app_client, make_person):
    applicant = make_person("anna@lumen.example")
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "playground")

    r = app_client.post(f"/api/v1/proposals/{draft['id']}/submit", headers=applicant.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "accepted"
    assert body["reference"].startswith("FAB-") and "PG" in body["reference"]
    assert all(c["passed"] for c in body["checks"]) and len(body["checks"]) == 12
    assert body["checks"][-1]["check"] == "ai-act"
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


def _review(client: TestClient, officer: Person, reviewer: Person, proposal_id: int, kind: str,
            scores: dict[str, int]) -> None:
    review = client.post(f"/api/v1/proposals/{proposal_id}/reviews", headers=officer.headers,
                         json={"reviewer_id": reviewer.user_id, "kind": kind})
    assert review.status_code == 201, review.text
    r = client.post(f"/api/v1/reviews/{review.json()['id']}/submit", headers=reviewer.headers,
                    json={"scores": scores, "comment_to_applicant": f"{kind} review"})
    assert r.status_code == 200, r.text


def test_large_scale_waits_for_its_cutoff_then_needs_three_reviews(
        app_client, make_person, officer, database, access):
    from datetime import timedelta

    from fabriek.access.service import release_cutoff
    from fabriek.identity.principal import SYSTEM

    applicant = make_person("anna@lumen.example")
    tech, peer1, peer2 = (make_person(f"r{i}@uni.example", Role.reviewer) for i in range(3))
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "large-scale", gpu_hours=120_000,
                   duration_months=6)
    held = app_client.post(f"/api/v1/proposals/{draft['id']}/submit",
                           headers=applicant.headers).json()
    assert held["state"] == "submitted" and held["cutoff_at"] is not None

    early = app_client.post("/api/v1/cutoffs/release", headers=officer.headers,
                            json={"mode": "large-scale"})
    assert early.json()["released"] == []

    from datetime import datetime
    cutoff = datetime.fromisoformat(held["cutoff_at"])
    with database.unit_of_work() as s:
        released = release_cutoff(s, SYSTEM, "large-scale", config=access,
                                  now=cutoff + timedelta(seconds=1))
        assert [p.id for p in released] == [draft["id"]]
    again = app_client.post("/api/v1/cutoffs/release", headers=officer.headers,
                            json={"mode": "large-scale"})
    assert again.json()["released"] == []  # safe to repeat

    _review(app_client, officer, tech, draft["id"], "technical",
            {"technical-readiness": 5, "resources": 4})
    _review(app_client, officer, peer1, draft["id"], "peer",
            {"excellence": 4, "impact": 4, "implementation": 3})
    missing = app_client.post(f"/api/v1/proposals/{draft['id']}/decision",
                              headers=officer.headers,
                              json={"outcome": "accept", "reasons": "Strong proposal."})
    assert missing.status_code == 409 and "1 peer" in missing.json()["detail"]
    _review(app_client, officer, peer2, draft["id"], "peer",
            {"excellence": 5, "impact": 4, "implementation": 4})
    accepted = app_client.post(f"/api/v1/proposals/{draft['id']}/decision",
                               headers=officer.headers,
                               json={"outcome": "accept", "reasons": "Strong proposal."})
    assert accepted.json()["state"] == "accepted"
    assert len(accepted.json()["reviews"]) == 3


def test_ai_for_science_is_for_research_and_caps_inference(app_client, make_person, officer):
    scientist = make_person("jan@uni.example")
    uni = _org(app_client, scientist, legal_name="Universiteit Utrecht", kind="research",
               registration_id="KVK-30275924", headcount=None, turnover_eur=None,
               balance_sheet_eur=None)
    too_much = _draft(app_client, scientist, uni, "ai-for-science", duration_months=6,
                      gpu_hours=200_000, inference_share=0.25)
    body = app_client.post(f"/api/v1/proposals/{too_much['id']}/submit",
                           headers=scientist.headers).json()
    assert body["state"] == "rejected"
    assert [c["check"] for c in body["checks"] if not c["passed"]] == ["inference-share"]

    ok = _draft(app_client, scientist, uni, "ai-for-science", duration_months=6,
                gpu_hours=200_000, inference_share=0.05)
    body = app_client.post(f"/api/v1/proposals/{ok['id']}/submit",
                           headers=scientist.headers).json()
    assert body["state"] == "submitted" and body["cutoff_at"] is not None


def test_startup_cannot_use_ai_for_science_and_is_told_why(app_client, make_person):
    applicant = make_person("anna@lumen.example")
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "ai-for-science", duration_months=6)
    body = app_client.post(f"/api/v1/proposals/{draft['id']}/submit",
                           headers=applicant.headers).json()
    [failed] = [c for c in body["checks"] if not c["passed"]]
    assert failed["check"] == "applicant-category"
    assert "startup" in failed["message"] and "research" in failed["message"]


@pytest.mark.parametrize(("mode", "priority"), [("strategic", "strategic"),
                                                 ("emergency", "emergency")])
def test_direct_allocation_by_an_access_officer(app_client, make_person, officer, mode,
                                                priority):
    applicant = make_person("crisis@agency.example")
    org_id = _org(app_client, applicant, legal_name="Rijkswaterstaat",
                  kind="public-authority", registration_id="OIN-00000001003214345000",
                  headcount=None, turnover_eur=None, balance_sheet_eur=None)
    r = app_client.post("/api/v1/allocations/direct", headers=officer.headers, json={
        **builders.proposal(org_id, mode, gpu_hours=80_000, duration_months=1),
        "reasons": "Flood forecasting for the 2026 storm surge"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "accepted" and body["reference"].startswith("FAB-")
    allocation = app_client.get(f"/api/v1/allocations/{body['allocation_ids'][0]}",
                                headers=applicant.headers).json()
    assert allocation["priority_class"] == priority
    events = app_client.get(f"/api/v1/audit?subject_type=proposal&subject_id={body['id']}",
                            headers=applicant.headers).json()["items"]
    assert [e["action"] for e in events] == ["proposal.drafted", "proposal.submitted",
                                             "proposal.accepted"]
    assert events[-1]["actor"] == officer.email


def test_withdraw_then_nothing_more(app_client, make_person):
    applicant = make_person("anna@lumen.example")
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "fast-lane", gpu_hours=10_000)
    app_client.post(f"/api/v1/proposals/{draft['id']}/submit", headers=applicant.headers)
    r = app_client.post(f"/api/v1/proposals/{draft['id']}/withdraw", headers=applicant.headers,
                        json={"reason": "We found compute elsewhere."})
    assert r.json()["state"] == "withdrawn"
    again = app_client.post(f"/api/v1/proposals/{draft['id']}/submit",
                            headers=applicant.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


def test_appeal_reopens_review_and_the_officer_decides_again(app_client, make_person, officer):
    applicant = make_person("anna@lumen.example")
    reviewer = make_person("rev@uni.example", Role.reviewer)
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "fast-lane", gpu_hours=10_000)
    pid = draft["id"]
    app_client.post(f"/api/v1/proposals/{pid}/submit", headers=applicant.headers)
    rejected = app_client.post(f"/api/v1/proposals/{pid}/decision", headers=officer.headers,
                               json={"outcome": "reject", "reasons": "No work plan attached."})
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["decision_reasons"] == "No work plan attached."

    appealed = app_client.post(f"/api/v1/proposals/{pid}/appeal", headers=applicant.headers,
                               json={"reason": "The work plan is in section 3 of the abstract."})
    assert appealed.json()["state"] == "appealed"
    reopened = app_client.post(f"/api/v1/proposals/{pid}/appeal-decision",
                               headers=officer.headers,
                               json={"reopen": True, "reason": "Work plan found."})
    assert reopened.json()["state"] == "in-review"
    _review(app_client, officer, reviewer, pid, "technical",
            {"technical-readiness": 4, "resources": 4})
    accepted = app_client.post(f"/api/v1/proposals/{pid}/decision", headers=officer.headers,
                               json={"outcome": "accept", "reasons": "On appeal."})
    assert accepted.json()["state"] == "accepted"
    states = [e["to_state"] for e in app_client.get(
        f"/api/v1/audit?subject_type=proposal&subject_id={pid}",
        headers=officer.headers).json()["items"] if e["to_state"]]
    assert states == ["draft", "submitted", "in-review", "rejected", "appealed", "in-review",
                      "accepted"]


def test_audit_chain_verifies_after_a_full_lifecycle(app_client, make_person, officer):
    applicant = make_person("anna@lumen.example")
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "playground")
    app_client.post(f"/api/v1/proposals/{draft['id']}/submit", headers=applicant.headers)
    report = app_client.get("/api/v1/audit/verify", headers=officer.headers).json()
    assert report["ok"] is True and report["entries"] >= 7


def test_worker_pass_releases_proposals_past_their_cutoff(app_client, make_person, database,
                                                          access):
    from datetime import datetime, timedelta

    from fabriek.access.tasks import release_due_cutoffs

    applicant = make_person("anna@lumen.example")
    org_id = _org(app_client, applicant)
    draft = _draft(app_client, applicant, org_id, "large-scale", gpu_hours=120_000,
                   duration_months=6)
    held = app_client.post(f"/api/v1/proposals/{draft['id']}/submit",
                           headers=applicant.headers).json()
    cutoff = datetime.fromisoformat(held["cutoff_at"])
    assert release_due_cutoffs(database, access, cutoff - timedelta(seconds=1)) == []
    assert release_due_cutoffs(database, access, cutoff + timedelta(seconds=1)) == [draft["id"]]
    shown = app_client.get(f"/api/v1/proposals/{draft['id']}", headers=applicant.headers).json()
    assert shown["state"] == "in-review"
