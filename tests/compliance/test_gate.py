"""The AI Act gate through the API, on both databases: assessments are stored and readable
only by their organisation (and officers, and reviewers of a proposal carrying them); every
proposal needs one; a prohibited practice is refused naming the article and point."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fabriek.identity.enums import Role
from tests import builders
from tests.api import helpers as h
from tests.conftest import Person

pytestmark = pytest.mark.integration

API = h.API
A = builders.MINIMAL_RISK_ANSWERS
CORE = {k: A[k] for k in ("kind", "definition", "role", "scope", "exclusions")}
EMOTION_AT_WORK = {**CORE, "role": "deployer", "role_change": ["none"],
                   "scope": "deployer-in-eu", "prohibited": ["emotion-workplace"]}
HIGH_RISK = {**CORE, "prohibited": ["none"], "annex_i": "no", "annex_iii": "employment",
             "annex_iii_employment": "recruitment", "profiling": "yes",
             "transparency": ["none"], "open_source": "no"}


def _bare_draft(client: TestClient, who: Person, org_id: int, mode: str = "playground",
                **over: Any) -> dict[str, Any]:
    r = client.post(f"{API}/proposals", json=builders.proposal(org_id, mode, **over),
                    headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def _assess(client: TestClient, who: Person, org_id: int, answers: dict[str, Any],
            lang: str = "en") -> dict[str, Any]:
    r = client.post(f"{API}/act/assessments", headers=who.headers,
                    json=builders.assessment(org_id, answers, lang))
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def applicant(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("anna@lumen.example")


@pytest.fixture
def org_id(app_client: TestClient, applicant: Person) -> int:
    return h.org(app_client, applicant)


def test_assessment_is_stored_with_outcome_and_path(app_client, applicant, org_id, database):
    body = _assess(app_client, applicant, org_id, HIGH_RISK, "nl")

    assert body["categories"] == ["high-risk-annex-iii"]
    assert body["lang"] == "nl" and body["outcome"]["role_label"] == "aanbieder"
    assert [s["question"] for s in body["outcome"]["path"]][:3] == ["kind", "definition", "role"]
    again = app_client.get(f"{API}/act/assessments/{body['id']}", headers=applicant.headers)
    assert again.json() == body
    assert h.audit_actions(database, "act.assessment-created", body["id"]) == 1


def test_the_tree_is_served(app_client, applicant):
    tree = app_client.get(f"{API}/act/tree", headers=applicant.headers).json()
    assert tree["start"] == "kind" and tree["version"]
    assert {d["basis"] for d in tree["dates"]} >= {"Article 113(a)", "Article 113(c)"}
    prohibited = next(q for q in tree["questions"] if q["id"] == "prohibited")
    assert prohibited["options"][5]["text"]["nl"].startswith("emotieherkenning")


def test_a_proposal_without_a_self_assessment_is_refused(app_client, applicant, org_id):
    draft = _bare_draft(app_client, applicant, org_id)

    decided = h.submit(app_client, applicant, draft["id"], "rejected")

    [failed] = [c for c in decided["checks"] if not c["passed"]]
    assert failed["check"] == "ai-act"
    assert "carries no AI Act self-assessment" in failed["message"]


def test_a_prohibited_practice_is_refused_naming_article_and_point(app_client, applicant,
                                                                   org_id):
    draft = _bare_draft(app_client, applicant, org_id)
    h.self_assess(app_client, applicant, draft, EMOTION_AT_WORK)

    decided = h.submit(app_client, applicant, draft["id"], "rejected")

    [failed] = [c for c in decided["checks"] if not c["passed"]]
    assert failed["check"] == "ai-act"
    assert ("Article 5(1)(f): emotion recognition in the workplace or in education "
            "institutions, except for medical or safety reasons") in failed["message"]
    assert "Article 5(1)(f)" in decided["decision_reasons"]
    assert decided["allocation_ids"] == []


def test_high_risk_is_shown_to_reviewers_with_obligations_and_sandboxes(
        app_client, applicant, org_id, officer, make_person):  # type: ignore[no-untyped-def]
    reviewer = make_person("rev@uni.example", Role.reviewer)
    outsider = make_person("other@uni.example", Role.reviewer)
    draft = _bare_draft(app_client, applicant, org_id, "fast-lane", gpu_hours=40_000,
                        duration_months=3)
    assessment_id = h.self_assess(app_client, applicant, draft, HIGH_RISK)
    submitted = h.submit(app_client, applicant, draft["id"], "in-review")
    h.assign(app_client, officer, draft["id"], reviewer)

    gate = next(c for c in submitted["checks"] if c["check"] == "ai-act")
    assert gate["passed"]
    assert "High-risk AI system (Annex III)" in gate["message"]
    assert "Article 9" in gate["message"] and "Article 57" in gate["message"]
    seen = app_client.get(f"{API}/proposals/{draft['id']}/self-assessment",
                          headers=reviewer.headers)
    assert seen.status_code == 200, seen.text
    view = seen.json()
    assert view["notable"] == ["High-risk AI system (Annex III)"]
    assert any("Article 57(1)" in a["cites"] for a in view["advice"])
    assert {o["id"] for o in view["obligations"]} >= {"hr-requirements", "hr-conformity"}
    assert app_client.get(f"{API}/act/assessments/{assessment_id}",
                          headers=reviewer.headers).status_code == 200
    for path in (f"/act/assessments/{assessment_id}", f"/proposals/{draft['id']}/self-assessment"):
        h.problem(app_client.get(f"{API}{path}", headers=outsider.headers), 404, "not_found")


def test_another_organisations_assessment_is_not_found(app_client, applicant, org_id,
                                                       make_person):  # type: ignore[no-untyped-def]
    other = make_person("bob@other.example")
    other_org = h.org(app_client, other, legal_name="Other B.V.", registration_id="KVK-1")
    theirs = _assess(app_client, other, other_org, A)
    draft = _bare_draft(app_client, applicant, org_id)

    h.problem(app_client.get(f"{API}/act/assessments/{theirs['id']}",
                             headers=applicant.headers), 404, "not_found")
    h.problem(app_client.put(f"{API}/proposals/{draft['id']}/self-assessment",
                             headers=applicant.headers, json={"assessment_id": theirs["id"]}),
              404, "not_found")
    h.problem(app_client.post(f"{API}/act/assessments", headers=applicant.headers,
                              json=builders.assessment(other_org)), 404, "not_found")
    mine = _assess(app_client, applicant, org_id, A)
    h.problem(app_client.put(f"{API}/proposals/{draft['id']}/self-assessment",
                             headers=other.headers, json={"assessment_id": mine["id"]}),
              404, "not_found")


def test_an_officer_reads_but_neither_assesses_nor_attaches_for_an_organisation(
        app_client, applicant, org_id, officer):  # type: ignore[no-untyped-def]
    mine = _assess(app_client, applicant, org_id, A)
    draft = _bare_draft(app_client, applicant, org_id)

    assert app_client.get(f"{API}/act/assessments/{mine['id']}",
                          headers=officer.headers).status_code == 200
    h.problem(app_client.post(f"{API}/act/assessments", headers=officer.headers,
                              json=builders.assessment(org_id)), 403, "forbidden")
    h.problem(app_client.put(f"{API}/proposals/{draft['id']}/self-assessment",
                             headers=officer.headers, json={"assessment_id": mine["id"]}),
              403, "forbidden")


def test_attach_only_to_a_draft_and_replace_while_it_is_one(app_client, applicant, org_id,
                                                           database):
    draft = _bare_draft(app_client, applicant, org_id)
    first = h.self_assess(app_client, applicant, draft, HIGH_RISK)
    second = h.self_assess(app_client, applicant, draft)
    view = app_client.get(f"{API}/proposals/{draft['id']}/self-assessment",
                          headers=applicant.headers).json()
    assert view["assessment_id"] == second != first
    h.submit(app_client, applicant, draft["id"], "accepted")

    r = app_client.put(f"{API}/proposals/{draft['id']}/self-assessment",
                       headers=applicant.headers, json={"assessment_id": first})
    body = h.problem(r, 409, "conflict")
    assert "only be attached to a draft" in body["detail"]
    assert h.audit_actions(database, "proposal.self-assessment-attached", draft["id"]) == 2


@pytest.mark.parametrize(("payload", "needle"), [
    ({"answers": {**A, "role": "boss"}}, "'boss' is not one of its options"),
    ({"answers": {k: v for k, v in A.items() if k != "prohibited"}}, "'prohibited' needs"),
    ({"answers": {**A, "gpai_systemic": "none"}}, "not on the path"),
    ({"answers": {**A, "colour": "blue"}}, "no such question"),
    ({"answers": {**A, "prohibited": ["none", "social-scoring"]}}, "cannot be combined"),
    ({"lang": "fr"}, "lang"),
    ({"answers": ["system"]}, "answers"),
    ({"answers": {**A, "role": {"x": 1}}}, "role"),
    ({"unexpected": 1}, "unexpected"),
])
def test_bad_assessment_payloads_are_problems_and_write_nothing(
        app_client, applicant, org_id, database, payload, needle):  # type: ignore[no-untyped-def]
    before = h.row_counts(database)
    r = app_client.post(f"{API}/act/assessments", headers=applicant.headers,
                        json={**builders.assessment(org_id), **payload})
    body = h.problem(r, 422, r.json().get("code", ""))
    assert needle in r.text, body
    assert h.row_counts(database) == before


def test_bad_answer_problem_names_the_question(app_client, applicant, org_id):
    r = app_client.post(f"{API}/act/assessments", headers=applicant.headers,
                        json=builders.assessment(org_id, {**A, "annex_i": "maybe"}))
    body = h.problem(r, 422, "validation_failed")
    assert body["question"] == "annex_i"


@pytest.mark.parametrize("payload", [{}, {"assessment_id": "x"}, {"assessment_id": 1, "y": 2}])
def test_bad_attach_payloads_are_problems_and_write_nothing(app_client, applicant, org_id,
                                                            database, payload):
    draft = _bare_draft(app_client, applicant, org_id)
    before = h.row_counts(database)
    r = app_client.put(f"{API}/proposals/{draft['id']}/self-assessment",
                       headers=applicant.headers, json=payload)
    h.problem(r, 422, "validation_failed")
    assert h.row_counts(database) == before


def test_direct_allocations_pass_the_gate_without_an_assessment(app_client, applicant, org_id,
                                                               officer):
    r = app_client.post(f"{API}/allocations/direct", headers=officer.headers, json={
        **builders.proposal(org_id, "strategic", gpu_hours=100, duration_months=1),
        "reasons": "Destination Earth"})
    assert r.status_code == 201, r.text
    gate = next(c for c in r.json()["checks"] if c["check"] == "ai-act")
    assert gate["passed"] and "direct allocation" in gate["message"]


def test_with_ai_act_adds_the_check_and_its_context_provider_once(access_policy):
    from fabriek.access.service import AccessConfig
    from fabriek.compliance.gate import ai_act_context, check_ai_act, with_ai_act

    plain = AccessConfig(policy=access_policy)
    wired = with_ai_act(with_ai_act(plain))

    assert list(wired.checks) == [*plain.checks, check_ai_act]
    assert list(wired.context_providers) == [ai_act_context]
    assert plain.context_providers == ()
