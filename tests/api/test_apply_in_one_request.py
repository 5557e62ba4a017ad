"""POST /proposals with `self_assessment_id` and `submit`: draft, attach and submit in one
request and one transaction; any refused step leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import builders
from tests.api import helpers as h
from tests.api.helpers import API
from tests.compliance.test_gate import EMOTION_AT_WORK
from tests.conftest import Person

pytestmark = pytest.mark.integration


@pytest.fixture
def applicant(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("anna@lumen.example")


def _assessment(client: TestClient, who: Person, org_id: int,
                answers: dict[str, Any] | None = None) -> int:
    r = client.post(f"{API}/act/assessments", headers=who.headers,
                    json=builders.assessment(org_id, answers))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_playground_is_accepted_in_one_request(app_client, database, applicant):
    org_id = h.org(app_client, applicant)
    assessment_id = _assessment(app_client, applicant, org_id)

    r = app_client.post(f"{API}/proposals", headers=applicant.headers, json={
        **builders.proposal(org_id), "self_assessment_id": assessment_id, "submit": True})

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "accepted" and len(body["allocation_ids"]) == 1, body
    assert {c["check"] for c in body["checks"]} >= {"eligibility", "ai-act"}
    assert all(c["passed"] and c["attempt"] == 1 for c in body["checks"])
    shown = app_client.get(f"{API}/proposals/{body['id']}", headers=applicant.headers).json()
    assert shown == body  # what the request answered is what was stored
    r = app_client.get(f"{API}/proposals/{body['id']}/self-assessment", headers=applicant.headers)
    assert r.status_code == 200 and r.json()["assessment_id"] == assessment_id
    for action in ("proposal.drafted", "proposal.self-assessment-attached",
                   "proposal.submitted", "allocation.created"):
        assert h.audit_actions(database, action, None) == 1, action


def test_without_submit_it_stays_a_draft_with_its_assessment(app_client, applicant):
    org_id = h.org(app_client, applicant)
    assessment_id = _assessment(app_client, applicant, org_id)
    r = app_client.post(f"{API}/proposals", headers=applicant.headers, json={
        **builders.proposal(org_id), "self_assessment_id": assessment_id})
    assert r.status_code == 201 and r.json()["state"] == "draft", r.text
    r = app_client.post(f"{API}/proposals/{r.json()['id']}/submit", headers=applicant.headers)
    assert r.json()["state"] == "accepted", r.text


def test_another_organisations_assessment_writes_nothing(app_client, database, applicant,
                                                         make_person):
    org_id = h.org(app_client, applicant)
    other = make_person("piet@elders.example")
    theirs = _assessment(app_client, other, h.org(app_client, other, legal_name="Elders B.V.",
                                                  registration_id="KVK-99999999"))
    before = h.row_counts(database)

    r = app_client.post(f"{API}/proposals", headers=applicant.headers, json={
        **builders.proposal(org_id), "self_assessment_id": theirs, "submit": True})

    h.problem(r, 404, "not_found")  # another organisation's assessment is not visible
    assert h.row_counts(database) == before


def test_an_unknown_assessment_writes_nothing(app_client, database, applicant):
    org_id = h.org(app_client, applicant)
    before = h.row_counts(database)
    r = app_client.post(f"{API}/proposals", headers=applicant.headers, json={
        **builders.proposal(org_id), "self_assessment_id": 987654, "submit": True})
    assert r.status_code == 404, r.text
    assert h.row_counts(database) == before


def test_a_prohibited_practice_is_rejected_with_its_article(app_client, applicant):
    org_id = h.org(app_client, applicant)
    assessment_id = _assessment(app_client, applicant, org_id, EMOTION_AT_WORK)
    r = app_client.post(f"{API}/proposals", headers=applicant.headers, json={
        **builders.proposal(org_id), "self_assessment_id": assessment_id, "submit": True})
    assert r.status_code == 201, r.text
    decided = r.json()
    assert decided["state"] == "rejected" and decided["allocation_ids"] == []
    [failed] = [c for c in decided["checks"] if not c["passed"]]
    assert failed["check"] == "ai-act" and "Article 5(1)(f)" in failed["message"]


def test_retry_with_the_same_key_applies_once(app_client, database, applicant):
    org_id = h.org(app_client, applicant)
    body = {**builders.proposal(org_id), "self_assessment_id": _assessment(
        app_client, applicant, org_id), "submit": True}
    headers = {**applicant.headers, "Idempotency-Key": "apply-2026-11-21"}
    first = app_client.post(f"{API}/proposals", headers=headers, json=body)
    retry = app_client.post(f"{API}/proposals", headers=headers, json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert h.audit_actions(database, "allocation.created") == 1
