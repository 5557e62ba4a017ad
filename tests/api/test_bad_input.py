"""Bad input on every creating or acting endpoint: a 4xx problem+json naming what is wrong, and
nothing written (row counts of every table, audit_events included, are unchanged).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fabriek.access.models import Allocation, Proposal
from fabriek.audit.models import AuditEvent
from fabriek.identity.enums import Role
from tests import builders
from tests.api import helpers as h
from tests.api.helpers import API
from tests.conftest import Person

pytestmark = pytest.mark.integration

# (status, code, words the detail must contain)
Expect = tuple[int, str, list[str]]


def _refused(r: Any, expect: Expect) -> dict[str, Any]:
    status, code, words = expect
    body = h.problem(r, status, code)
    missing = [w for w in words if w not in body["detail"]]
    assert missing == [], body["detail"]
    return body


def _verdict(r: Any, expect: Expect, database: Any, before: dict[str, int]) -> str:
    """'ok' when `r` is the expected problem and no table changed; else what is wrong."""
    status, code, words = expect
    if not r.headers.get("content-type", "").startswith(h.PROBLEM):
        return f"{r.status_code} {r.headers.get('content-type')}: {r.text[:300]}"
    body = r.json()
    if not {"type", "title", "status", "detail"} <= body.keys():
        return f"not a problem: {body}"
    if (r.status_code, body["status"], body["code"]) != (status, status, code):
        return f"{r.status_code} {body['code']}: {body['detail']}"
    missing = [w for w in words if w not in body["detail"]]
    if missing:
        return f"detail {body['detail']!r} lacks {missing}"
    after = h.row_counts(database)
    if after != before:
        return f"wrote rows: {({t: n - before[t] for t, n in after.items() if n != before[t]})}"
    return "ok"


@dataclass
class Scene:
    """An applicant's organisation with a draft and a Fast Lane proposal in review, its
    reviewer assigned; an officer; a second applicant with an organisation of their own."""

    applicant: Person
    other: Person
    officer: Person
    reviewer: Person
    org_id: int
    other_org_id: int
    draft: dict[str, Any]
    in_review: dict[str, Any]
    review_id: int


@pytest.fixture
def scene(app_client: TestClient, make_person, officer: Person) -> Scene:  # type: ignore[no-untyped-def]
    applicant = make_person("anna@lumen.example")
    other = make_person("bram@delta.example")
    reviewer = make_person("rev@uni.example", Role.reviewer)
    org_id = h.org(app_client, applicant)
    other_org_id = h.org(app_client, other, legal_name="Delta Robotics B.V.",
                         registration_id="KVK-22222222")
    in_review = h.in_review(app_client, applicant, org_id)
    review = h.assign(app_client, officer, in_review["id"], reviewer)
    return Scene(applicant, other, officer, reviewer, org_id, other_org_id,
                 h.draft(app_client, applicant, org_id), in_review, review["id"])


def _proposal(client: TestClient, scene: Scene, proposal_id: int) -> dict[str, Any]:
    r = client.get(f"{API}/proposals/{proposal_id}", headers=scene.officer.headers)
    assert r.status_code == 200, r.text
    return r.json()


# --- POST /organisations -------------------------------------------------------------------

_TODAY = date.today()
ORGANISATION_CASES: dict[str, tuple[dict[str, Any], Any, Expect]] = {
    # name: (request kwargs, body, expected)
    "unknown-country": ({}, builders.startup_org(country="XX"), (422, "validation_failed", [
        "country", "'XX' is not an ISO 3166-1 alpha-2 country code"])),
    "missing-fields": ({}, {"legal_name": "Lumen Vision B.V."}, (422, "validation_failed", [
        "country: Field required", "registration_id: Field required",
        "kind: Field required"])),
    "negative-headcount": ({}, builders.startup_org(headcount=-1), (422, "validation_failed", [
        "headcount: Input should be greater than or equal to 0"])),
    "future-founding-date": ({}, builders.startup_org(
        founded_on=(_TODAY + timedelta(days=30)).isoformat()), (422, "validation_failed", [
            "founded_on", "the founding date cannot be in the future"])),
    "unknown-field": ({}, builders.startup_org(owner="anna"), (422, "validation_failed", [
        "owner: Extra inputs are not permitted"])),
    "wrong-types": ({}, builders.startup_org(headcount="twelve", kind=7, public_control="maybe"),
                    (422, "validation_failed", ["kind:", "headcount:", "public_control:"])),
    "not-json": ({"headers": {"Content-Type": "application/json"}}, b"legal_name=Lumen",
                 (422, "validation_failed", ["JSON"])),
    "not-an-object": ({}, [builders.startup_org()], (422, "validation_failed", [
        "Input should be a valid dictionary"])),
    "no-body": ({}, None, (422, "validation_failed", ["Field required"])),
    "bad-vouch-flag": ({"params": {"vouch": "perhaps"}}, builders.startup_org(),
                       (422, "validation_failed", ["vouch:"])),
    "idempotency-key-too-long": ({"headers": {"Idempotency-Key": "k" * 201}},
                                 builders.startup_org(), (422, "validation_failed", [
                                     "Idempotency-Key: String should have at most 200"])),
}


def test_register_organisation_with_bad_input_is_refused_and_writes_nothing(
        app_client, database, make_person):
    who = make_person("anna@lumen.example")
    before = h.row_counts(database)
    verdicts = {}

    for case, (kwargs, body, expect) in ORGANISATION_CASES.items():
        payload = {"content": body} if isinstance(body, bytes) else {"json": body}
        r = app_client.post(f"{API}/organisations", params=kwargs.get("params"),
                            headers={**who.headers, **kwargs.get("headers", {})}, **payload)
        verdicts[case] = _verdict(r, expect, database, before)

    assert verdicts == dict.fromkeys(ORGANISATION_CASES, "ok")


def test_register_organisation_with_a_nul_character_is_refused(app_client, database,
                                                               make_person):
    who = make_person("anna@lumen.example")
    before = h.row_counts(database)

    r = app_client.post(f"{API}/organisations", headers=who.headers,
                        json=builders.startup_org(legal_name="Lumen\x00 Vision B.V."))

    assert _verdict(r, (422, "validation_failed", ["legal_name"]), database, before) == "ok"


def test_register_organisation_twice_is_conflict(app_client, database, make_person):
    who = make_person("anna@lumen.example")
    h.org(app_client, who)
    before = h.row_counts(database)

    r = app_client.post(f"{API}/organisations", json=builders.startup_org(legal_name="Lumen BV"),
                        headers=who.headers)

    _refused(r, (409, "conflict", ["KVK-81234567", "already registered"]))
    assert h.row_counts(database) == before


# --- POST /proposals -----------------------------------------------------------------------

PROPOSAL_CASES: dict[str, tuple[Callable[[Scene], dict[str, Any]], Expect]] = {
    "unknown-mode": (lambda s: builders.proposal(s.org_id, "hackathon"), (
        422, "validation_failed", ["unknown access mode 'hackathon'"])),
    "zero-gpu-hours": (lambda s: builders.proposal(s.org_id, gpu_hours=0), (
        422, "validation_failed", ["gpu_hours: Input should be greater than or equal to 1"])),
    "ethics-without-signer": (lambda s: builders.proposal(s.org_id, ethics_signed_by=None), (
        422, "validation_failed",
        ["an ethics commitment and the name of who signed it go together"])),
    "signer-without-ethics": (lambda s: builders.proposal(s.org_id, ethics_commitment=None), (
        422, "validation_failed",
        ["an ethics commitment and the name of who signed it go together"])),
    "unknown-ethics-commitment": (
        lambda s: builders.proposal(s.org_id, ethics_commitment="pinky-swear"),
        (422, "validation_failed", ["ethics_commitment:"])),
    "duration-too-long": (lambda s: builders.proposal(s.org_id, duration_months=61), (
        422, "validation_failed", ["duration_months: Input should be less than or equal to 60"])),
    "someone-elses-organisation": (lambda s: builders.proposal(s.other_org_id), (
        404, "not_found", ["organisation", "not found"])),
    "unknown-organisation": (lambda s: builders.proposal(999_999), (
        404, "not_found", ["organisation 999999 not found"])),
    "direct-mode": (lambda s: builders.proposal(s.org_id, "emergency"), (
        422, "policy_refusal", ["Emergency allocation", "cannot be applied for"])),
}


def test_draft_proposal_with_bad_input_is_refused_and_writes_nothing(
        app_client, database, scene):
    before = h.row_counts(database)
    verdicts, rules = {}, {}

    for case, (body, expect) in PROPOSAL_CASES.items():
        r = app_client.post(f"{API}/proposals", json=body(scene),
                            headers=scene.applicant.headers)
        verdicts[case] = _verdict(r, expect, database, before)
        rules[case] = r.json().get("rule")

    assert verdicts == dict.fromkeys(PROPOSAL_CASES, "ok")
    assert rules["direct-mode"] == "access mode emergency: initiated_by"


# --- PATCH /proposals/{id} -----------------------------------------------------------------

PATCH_CASES: dict[str, tuple[dict[str, Any], Expect]] = {
    "zero-gpu-hours": ({"gpu_hours": 0}, (422, "validation_failed", ["gpu_hours:"])),
    "unknown-field": ({"state": "accepted"}, (422, "validation_failed", [
        "state: Extra inputs are not permitted"])),
    "signer-removed": ({"ethics_signed_by": None}, (422, "validation_failed", [
        "an ethics commitment and the name of who signed it go together"])),
    "unknown-mode": ({"mode": "hackathon"}, (422, "validation_failed", [
        "unknown access mode 'hackathon'"])),
    "direct-mode": ({"mode": "strategic"}, (422, "policy_refusal", [
        "Strategic direct allocation cannot be applied for"])),
}


def test_change_draft_with_bad_input_is_refused_and_changes_nothing(
        app_client, database, scene):
    before, draft = h.row_counts(database), _proposal(app_client, scene, scene.draft["id"])

    verdicts = {case: _verdict(app_client.patch(
        f"{API}/proposals/{scene.draft['id']}", json=body, headers=scene.applicant.headers),
        expect, database, before) for case, (body, expect) in PATCH_CASES.items()}

    assert verdicts == dict.fromkeys(PATCH_CASES, "ok")
    assert _proposal(app_client, scene, scene.draft["id"]) == draft


def test_change_proposal_after_submission_is_conflict(app_client, database, scene):
    before = h.row_counts(database)
    proposal = _proposal(app_client, scene, scene.in_review["id"])

    r = app_client.patch(f"{API}/proposals/{scene.in_review['id']}",
                         json={"title": "A better title"}, headers=scene.applicant.headers)

    _refused(r, (409, "conflict", ["only a draft can be changed; this proposal is in-review"]))
    assert h.row_counts(database) == before
    assert _proposal(app_client, scene, scene.in_review["id"]) == proposal


# --- POST /proposals/{id}/decision ---------------------------------------------------------

DECISION_CASES: dict[str, tuple[dict[str, Any], Expect]] = {
    "reduced-without-hours": ({"outcome": "accept-reduced", "reasons": "capacity is tight"}, (
        422, "validation_failed", ["accepting with less needs gpu_hours_granted"])),
    "rejection-granting-hours": (
        {"outcome": "reject", "reasons": "out of scope", "gpu_hours_granted": 10}, (
            422, "validation_failed", ["a rejection grants no GPU-hours"])),
    "unknown-outcome": ({"outcome": "maybe", "reasons": "not sure yet"}, (
        422, "validation_failed", ["outcome:"])),
    "reasons-too-short": ({"outcome": "reject", "reasons": "no"}, (
        422, "validation_failed", ["reasons: String should have at least 3 characters"])),
    "zero-hours": ({"outcome": "accept-reduced", "reasons": "capacity", "gpu_hours_granted": 0},
                   (422, "validation_failed", ["gpu_hours_granted:"])),
}


def test_decision_with_bad_input_is_refused_and_changes_nothing(app_client, database, scene):
    before = h.row_counts(database)
    proposal = _proposal(app_client, scene, scene.in_review["id"])

    verdicts = {case: _verdict(app_client.post(
        f"{API}/proposals/{scene.in_review['id']}/decision", json=body,
        headers=scene.officer.headers), expect, database, before)
        for case, (body, expect) in DECISION_CASES.items()}

    assert verdicts == dict.fromkeys(DECISION_CASES, "ok")
    assert _proposal(app_client, scene, scene.in_review["id"]) == proposal


REVIEWED_DECISION_CASES: dict[str, tuple[dict[str, Any], Expect]] = {
    "more-than-requested": (
        {"outcome": "accept", "reasons": "generous", "gpu_hours_granted": 60_000},
        (422, "validation_failed", ["cannot grant 60,000 GPU-hours; 40,000 were requested"])),
    "reduced-granting-all": (
        {"outcome": "accept-reduced", "reasons": "all of it", "gpu_hours_granted": 40_000},
        (422, "validation_failed", ["accepting with less must grant fewer GPU-hours"])),
    "unknown-factory": ({"outcome": "accept", "reasons": "fine", "factory": "atlantis"},
                        (422, "validation_failed", ["unknown factory 'atlantis'"])),
}


def test_decision_on_a_reviewed_proposal_with_bad_grant_is_refused_and_changes_nothing(
        app_client, database, scene):
    h.review(app_client, scene.reviewer, scene.review_id)
    before = h.row_counts(database)
    proposal = _proposal(app_client, scene, scene.in_review["id"])

    verdicts = {case: _verdict(app_client.post(
        f"{API}/proposals/{scene.in_review['id']}/decision", json=body,
        headers=scene.officer.headers), expect, database, before)
        for case, (body, expect) in REVIEWED_DECISION_CASES.items()}

    assert verdicts == dict.fromkeys(REVIEWED_DECISION_CASES, "ok")
    assert _proposal(app_client, scene, scene.in_review["id"]) == proposal


# --- POST /reviews/{id}/submit -------------------------------------------------------------

REVIEW_CASES: dict[str, tuple[dict[str, int], Expect]] = {
    "unknown-criterion": ({"technical-readiness": 4, "resources": 3, "novelty": 5}, (
        422, "validation_failed", ["unknown criterion 'novelty'"])),
    "score-above-scale": ({"technical-readiness": 4, "resources": 6}, (
        422, "validation_failed", ["resources: 6 is outside 1..5"])),
    "score-below-scale": ({"technical-readiness": 0, "resources": 3}, (
        422, "validation_failed", ["technical-readiness: 0 is outside 1..5"])),
    "missing-criterion": ({"technical-readiness": 4}, (
        422, "validation_failed", ["criterion 'resources' is not scored"])),
    "no-scores": ({}, (422, "validation_failed", ["scores:"])),
}


def test_submit_review_with_bad_scores_is_refused_and_writes_nothing(
        app_client, database, scene):
    before = h.row_counts(database)
    verdicts, criteria = {}, {}

    for case, (scores, expect) in REVIEW_CASES.items():
        r = app_client.post(f"{API}/reviews/{scene.review_id}/submit",
                            json={"scores": scores, "private_comment": "strong team"},
                            headers=scene.reviewer.headers)
        verdicts[case], criteria[case] = _verdict(r, expect, database, before), r.json().get(
            "criteria")

    assert verdicts == dict.fromkeys(REVIEW_CASES, "ok")
    assert criteria == {**{case: ["resources", "technical-readiness"] for case in REVIEW_CASES},
                        "no-scores": None}
    [mine] = app_client.get(f"{API}/reviews", headers=scene.reviewer.headers).json()
    assert (mine["state"], mine["scores"], mine["private_comment"]) == ("assigned", {}, "")


# --- POST /allocations/direct --------------------------------------------------------------


def _count(database: Any, model: Any) -> int:
    with database.unit_of_work(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_direct_allocation_to_an_ineligible_organisation_is_refused_and_writes_nothing(
        app_client, database, make_person, officer):
    applicant = make_person("li@shanghai.example")
    org_id = h.org(app_client, applicant, country="CN", registration_id="CN-91310000")
    counts = {m: _count(database, m) for m in (Proposal, Allocation, AuditEvent)}
    before = h.row_counts(database)

    r = app_client.post(f"{API}/allocations/direct", headers=officer.headers, json={
        **builders.proposal(org_id, "emergency"), "reasons": "flood forecasting for the Rhine"})

    problem = _refused(r, (422, "policy_refusal", ["eligibility", "CN"]))
    assert (problem["rule"], problem["checks"]) == (
        "eligibility: country of establishment", ["eligibility"])
    assert {m: _count(database, m) for m in counts} == counts
    assert h.row_counts(database) == before


DIRECT_CASES: dict[str, tuple[Callable[[Scene], dict[str, Any]], Expect]] = {
    "applied-for-mode": (lambda s: {**builders.proposal(s.org_id, "playground"),
                                    "reasons": "strategic"},
                         (422, "validation_failed", ["Playground is applied for"])),
    "unknown-organisation": (lambda s: {**builders.proposal(999_999, "strategic"),
                                        "reasons": "strategic"},
                             (404, "not_found", ["organisation 999999 not found"])),
    "without-reasons": (lambda s: builders.proposal(s.org_id, "strategic"),
                        (422, "validation_failed", ["reasons: Field required"])),
    "unknown-mode": (lambda s: {**builders.proposal(s.org_id, "crisis"), "reasons": "urgent"},
                     (422, "validation_failed", ["unknown access mode 'crisis'"])),
}


def test_direct_allocation_with_bad_input_is_refused_and_writes_nothing(
        app_client, database, scene):
    before = h.row_counts(database)

    verdicts = {case: _verdict(app_client.post(
        f"{API}/allocations/direct", json=body(scene), headers=scene.officer.headers),
        expect, database, before) for case, (body, expect) in DIRECT_CASES.items()}

    assert verdicts == dict.fromkeys(DIRECT_CASES, "ok")


# --- POST /users ---------------------------------------------------------------------------

USER_CASES: dict[str, tuple[dict[str, Any], Expect]] = {
    "bad-email": ({"email": "anna-at-lumen"}, (422, "validation_failed", [
        "email: value is not a valid email address"])),
    "duplicate-email": ({"email": "anna@lumen.example"}, (409, "conflict", [
        "a user with e-mail anna@lumen.example already exists"])),
    "duplicate-email-other-case": ({"email": "Anna@Lumen.example"}, (409, "conflict", [
        "already exists"])),
    "unknown-role": ({"email": "new@lumen.example", "roles": ["king"]}, (
        422, "validation_failed", ["roles.0:"])),
}


def test_create_user_with_bad_input_is_refused_and_writes_nothing(
        app_client, database, make_person, officer):
    make_person("anna@lumen.example")
    before = h.row_counts(database)

    verdicts = {case: _verdict(app_client.post(f"{API}/users", json=body,
                                               headers=officer.headers), expect, database, before)
                for case, (body, expect) in USER_CASES.items()}

    assert verdicts == dict.fromkeys(USER_CASES, "ok")


# --- repeated transitions ------------------------------------------------------------------


def test_submit_twice_is_invalid_transition(app_client, database, make_person):
    applicant = make_person("anna@lumen.example")
    p = h.accepted(app_client, applicant, h.org(app_client, applicant))
    before = h.row_counts(database)

    r = app_client.post(f"{API}/proposals/{p['id']}/submit", headers=applicant.headers)

    body = _refused(r, (409, "invalid_transition", [
        "a proposal cannot go from accepted to submitted"]))
    assert (body["current"], body["target"]) == ("accepted", "submitted")
    assert h.row_counts(database) == before


def test_appeal_twice_is_conflict(app_client, database, make_person):
    applicant = make_person("li@shanghai.example")
    org_id = h.org(app_client, applicant, country="CN", registration_id="CN-91310000")
    p = h.submit(app_client, applicant, h.draft(app_client, applicant, org_id)["id"], "rejected")
    first = app_client.post(f"{API}/proposals/{p['id']}/appeal", headers=applicant.headers,
                            json={"reason": "we have an EU subsidiary"})
    assert first.status_code == 200 and first.json()["state"] == "appealed", first.text
    before = h.row_counts(database)

    r = app_client.post(f"{API}/proposals/{p['id']}/appeal", headers=applicant.headers,
                        json={"reason": "we really do have an EU subsidiary"})

    _refused(r, (409, "conflict", ["appealed once already"]))
    assert h.row_counts(database) == before
    seen = app_client.get(f"{API}/proposals/{p['id']}", headers=applicant.headers).json()
    assert (seen["state"], seen["appeal_reason"]) == ("appealed", "we have an EU subsidiary")


# --- the other acting endpoints ------------------------------------------------------------

# name: (who, method, path, body, expected)
Acting = tuple[Callable[[Scene], Person], str, Callable[[Scene], str], Any, Expect]
ACTING_CASES: dict[str, Acting] = {
    "withdraw-reason-too-short": (
        lambda s: s.applicant, "POST", lambda s: f"/proposals/{s.draft['id']}/withdraw",
        {"reason": "no"}, (422, "validation_failed", ["reason: String should have at least 3"])),
    "appeal-without-reason": (
        lambda s: s.applicant, "POST", lambda s: f"/proposals/{s.in_review['id']}/appeal", {},
        (422, "validation_failed", ["reason: Field required"])),
    "appeal-not-rejected": (
        lambda s: s.applicant, "POST", lambda s: f"/proposals/{s.in_review['id']}/appeal",
        {"reason": "please reconsider"}, (409, "invalid_transition", [
            "a proposal cannot go from in-review to appealed"])),
    "appeal-decision-without-reopen": (
        lambda s: s.officer, "POST", lambda s: f"/proposals/{s.in_review['id']}/appeal-decision",
        {"reason": "reopened"}, (422, "validation_failed", ["reopen: Field required"])),
    "appeal-decision-not-appealed": (
        lambda s: s.officer, "POST", lambda s: f"/proposals/{s.in_review['id']}/appeal-decision",
        {"reopen": True, "reason": "reopened"}, (409, "conflict", [
            "this proposal is in-review, not appealed"])),
    "assign-review-kind-the-mode-lacks": (
        lambda s: s.officer, "POST", lambda s: f"/proposals/{s.in_review['id']}/reviews",
        {"reviewer_id": 0, "kind": "peer"}, (422, "validation_failed", [
            "Fast Lane takes no peer review"])),
    "assign-someone-without-reviewer-role": (
        lambda s: s.officer, "POST", lambda s: f"/proposals/{s.in_review['id']}/reviews",
        "other", (422, "validation_failed", ["does not hold the reviewer role"])),
    "assign-the-same-reviewer-twice": (
        lambda s: s.officer, "POST", lambda s: f"/proposals/{s.in_review['id']}/reviews",
        "reviewer", (409, "conflict", ["already assigned"])),
    "assign-unknown-user": (
        lambda s: s.officer, "POST", lambda s: f"/proposals/{s.in_review['id']}/reviews",
        {"reviewer_id": 999_999, "kind": "technical"}, (404, "not_found", [
            "user 999999 not found"])),
    "assign-to-a-draft": (
        lambda s: s.officer, "POST", lambda s: f"/proposals/{s.draft['id']}/reviews",
        "reviewer", (409, "conflict", ["this one is draft"])),
    "conflict-without-reason": (
        lambda s: s.reviewer, "POST", lambda s: f"/reviews/{s.review_id}/conflict", {},
        (422, "validation_failed", ["reason: Field required"])),
    "conflict-on-someone-elses-review": (
        lambda s: s.applicant, "POST", lambda s: f"/reviews/{s.review_id}/conflict",
        {"reason": "I know them"}, (404, "not_found", ["not found"])),
    "release-unknown-mode": (
        lambda s: s.officer, "POST", lambda s: "/cutoffs/release", {"mode": "hackathon"},
        (422, "validation_failed", ["unknown access mode 'hackathon'"])),
    "release-mode-not-a-slug": (
        lambda s: s.officer, "POST", lambda s: "/cutoffs/release", {"mode": "Large Scale"},
        (422, "validation_failed", ["mode: String should match pattern"])),
    "add-member-unknown-person": (
        lambda s: s.applicant, "POST", lambda s: f"/organisations/{s.org_id}/members",
        {"email": "nobody@lumen.example"}, (404, "not_found", [
            "no user with e-mail nobody@lumen.example"])),
    "add-member-bad-email": (
        lambda s: s.applicant, "POST", lambda s: f"/organisations/{s.org_id}/members",
        {"email": "nobody"}, (422, "validation_failed", ["email: value is not a valid email"])),
    "add-member-unknown-role": (
        lambda s: s.applicant, "POST", lambda s: f"/organisations/{s.org_id}/members",
        {"email": "bram@delta.example", "role": "owner"}, (422, "validation_failed", ["role:"])),
    "add-member-already-member": (
        lambda s: s.applicant, "POST", lambda s: f"/organisations/{s.org_id}/members",
        {"email": "anna@lumen.example"}, (409, "conflict", [
            "anna@lumen.example is already a member"])),
    "change-organisation-negative-headcount": (
        lambda s: s.applicant, "PATCH", lambda s: f"/organisations/{s.org_id}",
        {"headcount": -5}, (422, "validation_failed", [
            "headcount: Input should be greater than or equal to 0"])),
    "change-organisation-country": (
        lambda s: s.applicant, "PATCH", lambda s: f"/organisations/{s.org_id}",
        {"country": "US"}, (422, "validation_failed", [
            "country: Extra inputs are not permitted"])),
    "token-for-unknown-user": (
        lambda s: s.officer, "POST", lambda s: "/users/999999/tokens", None,
        (404, "not_found", ["user 999999 not found"])),
}


def _acting_body(scene: Scene, body: Any) -> Any:
    """'reviewer' / 'other': a valid technical assignment of that person."""
    if body == "reviewer":
        return {"reviewer_id": scene.reviewer.user_id, "kind": "technical"}
    if body == "other":
        return {"reviewer_id": scene.other.user_id, "kind": "technical"}
    return body


def test_acting_with_bad_input_is_refused_and_changes_nothing(app_client, database, scene):
    before = h.row_counts(database)
    proposals = [_proposal(app_client, scene, p["id"]) for p in (scene.draft, scene.in_review)]
    org = app_client.get(f"{API}/organisations/{scene.org_id}", headers=scene.applicant.headers)

    verdicts = {case: _verdict(app_client.request(
        method, f"{API}{path(scene)}", json=_acting_body(scene, body),
        headers=who(scene).headers), expect, database, before)
        for case, (who, method, path, body, expect) in ACTING_CASES.items()}

    assert verdicts == dict.fromkeys(ACTING_CASES, "ok")
    assert [_proposal(app_client, scene, p["id"]) for p in (scene.draft, scene.in_review)] == (
        proposals)
    assert app_client.get(f"{API}/organisations/{scene.org_id}",
                          headers=scene.applicant.headers).json() == org.json()


def test_assign_reviewer_without_reviewer_id_names_the_field(app_client, database, scene):
    before = h.row_counts(database)

    r = app_client.post(f"{API}/proposals/{scene.in_review['id']}/reviews",
                        json={"reviewer_id": None, "kind": "technical"},
                        headers=scene.officer.headers)

    assert _verdict(r, (422, "validation_failed", ["reviewer_id"]), database, before) == "ok"


# --- random organisations ------------------------------------------------------------------

_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15),
                          st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
_json = st.recursive(_json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
_dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "legal_name": st.text(max_size=320),
    "country": st.one_of(st.sampled_from(["NL", "nl", " de ", "CN", "XK", "EL", "UK", "XX"]),
                         st.text(max_size=3)),
    "registration_id": st.text(max_size=110),
    "vat_id": st.one_of(st.none(), st.text(max_size=40)),
    "kind": st.sampled_from(["enterprise", "research", "public-authority", "eu-project", "sme"]),
    "founded_on": st.one_of(st.none(), _dates),
    "headcount": st.one_of(st.none(), st.integers(-5, 10**8)),
    "turnover_eur": st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False,
                                                     places=3).map(str),
                              st.floats(0, 1e14)),
    "balance_sheet_eur": st.one_of(st.none(), st.integers(-1, 10**14)),
    "public_control": st.booleans(),
}


@st.composite
def _organisation_bodies(draw: st.DrawFn) -> Any:
    """Mostly near-valid bodies (each field valid, random or absent), sometimes any JSON."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_json)
    body: dict[str, Any] = {}
    valid = builders.startup_org(registration_id=f"KVK-{draw(st.uuids()).hex[:12]}")
    for field, strategy in _FIELD_VALUES.items():
        how = draw(st.sampled_from(["valid", "valid", "valid", "random", "absent"]))
        if how == "valid" and field in valid:
            body[field] = valid[field]
        elif how == "random":
            body[field] = draw(strategy)
    if draw(st.integers(0, 4)) == 0:
        body.update(draw(st.dictionaries(st.text(max_size=12), _json, min_size=1, max_size=1)))
    return body


@pytest.fixture
def fuzzer(make_person) -> Person:  # type: ignore[no-untyped-def]
    """One applicant for all examples: fixtures are set up once per test, not per example."""
    return make_person("fuzz@lumen.example")


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_organisation_bodies())
def test_register_organisation_with_random_json_never_fails_on_our_side(
        app_client, fuzzer, body):
    r = app_client.post(f"{API}/organisations", headers={
        **fuzzer.headers, "Content-Type": "application/json"}, content=json.dumps(body))

    assert r.status_code == 201 or 400 <= r.status_code < 500, (r.status_code, r.text)
    if r.status_code != 201:
        h.problem(r, r.status_code, r.json()["code"])
