"""POST /proposals with `self_assessment_id` and `submit`: draft, attach and submit in one
request and one transaction; any refused step leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from fabriek.access import service
from fabriek.federation import ledger
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


# The referral is ranked in a read-only transaction before the write one (service.rank_ahead).
# What changes in between must still count.


def _between_ranking_and_writing(monkeypatch, change, name: str = "rank_ahead"  # type: ignore[no-untyped-def]
                                 ) -> list[object]:
    ranked: list[object] = []

    def rank_then_change(*args, **kwargs):  # type: ignore[no-untyped-def]
        ranked.append(real(*args, **kwargs))
        change()
        return ranked[-1]

    real = getattr(service, name)
    monkeypatch.setattr(service, name, rank_then_change)
    return ranked


def _take_the_partition_out(database) -> None:  # type: ignore[no-untyped-def]
    start = datetime.now(UTC) - timedelta(days=1)  # maintenance over the whole window
    with database.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO maintenance_windows (factory_id, partition_id, starts_at, ends_at, "
            "reason, created_at) VALUES ('local', 'gpu', :a, :b, 'rebuild', :a)"),
            {"a": start, "b": start + timedelta(days=200)})


@pytest.mark.parametrize("flow", ["one request", "draft, then submit"])
def test_a_federation_change_after_the_ranking_is_honoured(app_client, database, applicant,
                                                            monkeypatch, flow):
    org_id = h.org(app_client, applicant)
    body = {**builders.proposal(org_id),
            "self_assessment_id": _assessment(app_client, applicant, org_id)}
    if flow == "one request":
        ranked = _between_ranking_and_writing(monkeypatch, lambda: _take_the_partition_out(
            database))
        r = app_client.post(f"{API}/proposals", headers=applicant.headers,
                            json={**body, "submit": True})
    else:
        draft = app_client.post(f"{API}/proposals", headers=applicant.headers, json=body).json()
        ranked = _between_ranking_and_writing(monkeypatch, lambda: _take_the_partition_out(
            database), "rank_ahead_of")
        r = app_client.post(f"{API}/proposals/{draft['id']}/submit", headers=applicant.headers)

    assert len(ranked) == 1 and ranked[0].eligible  # it fitted when it was ranked
    decided = r.json()
    assert r.status_code in (200, 201) and decided["state"] == "rejected", decided
    [failed] = [c for c in decided["checks"] if not c["passed"]]
    assert failed["check"] == "capacity", failed
    assert decided["allocation_ids"] == []


def test_capacity_taken_after_the_ranking_is_re_checked_under_lock(app_client, database,
                                                                    applicant, monkeypatch):
    org_id = h.org(app_client, applicant)
    assessment_id = _assessment(app_client, applicant, org_id)

    def another_acceptance_fills_the_partition() -> None:
        first, last = date.today() - timedelta(days=7), date.today() + timedelta(days=120)
        with database.unit_of_work() as s:
            ledger.lock(s, ("local", "gpu"), first, last)
            ledger.add(s, ("local", "gpu"), 1e9, first, last)

    ranked = _between_ranking_and_writing(monkeypatch, another_acceptance_fills_the_partition)
    r = app_client.post(f"{API}/proposals", headers=applicant.headers, json={
        **builders.proposal(org_id), "self_assessment_id": assessment_id, "submit": True})

    assert ranked[0].eligible  # the ranking, made before, saw room; the lock sees none
    decided = r.json()
    assert r.status_code == 201 and decided["state"] == "rejected", decided
    assert "re-checked under lock" in decided["decision_reasons"], decided
    assert decided["allocation_ids"] == []
    assert h.audit_actions(database, "allocation.created") == 0
