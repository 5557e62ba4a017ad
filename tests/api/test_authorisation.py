"""The authorisation matrix of the API: who sees and changes what, on both databases.

Data that could leak is created first: two applicant organisations, each with a draft, a
proposal in review (Fast Lane) and an accepted one with an allocation (Playground).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.principal import SYSTEM
from fabriek.kit.clock import utcnow
from tests import builders
from tests.api import helpers as h
from tests.api.helpers import API
from tests.conftest import Person

pytestmark = pytest.mark.integration


@dataclass
class Side:
    """An applicant, their organisation and its proposals in three states."""

    who: Person
    org_id: int
    draft: dict[str, Any]
    in_review: dict[str, Any]
    accepted: dict[str, Any]

    @property
    def proposals(self) -> list[dict[str, Any]]:
        return [self.draft, self.in_review, self.accepted]

    @property
    def proposal_ids(self) -> set[int]:
        return {p["id"] for p in self.proposals}

    @property
    def allocation_id(self) -> int:
        return self.accepted["allocation_ids"][0]


@dataclass
class World:
    a: Side
    b: Side


def _side(client: TestClient, who: Person, legal_name: str, registration_id: str) -> Side:
    org_id = h.org(client, who, legal_name=legal_name, registration_id=registration_id)
    return Side(who, org_id, h.draft(client, who, org_id, title=f"Draft of {legal_name}"),
                h.in_review(client, who, org_id, title=f"Review of {legal_name}"),
                h.accepted(client, who, org_id, title=f"Accepted of {legal_name}"))


@pytest.fixture
def world(app_client: TestClient, make_person) -> World:  # type: ignore[no-untyped-def]
    a = make_person("anna@lumen.example")
    b = make_person("bram@delta.example")
    return World(_side(app_client, a, "Lumen Vision B.V.", "KVK-11111111"),
                 _side(app_client, b, "Delta Robotics B.V.", "KVK-22222222"))


def _get(client: TestClient, who: Person, path: str) -> Any:
    r = client.get(f"{API}{path}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _ids(page: dict[str, Any]) -> set[int]:
    return {item["id"] for item in page["items"]}


# --- another applicant's data --------------------------------------------------------------

READS: dict[str, Callable[[Side], str]] = {
    "organisation": lambda s: f"/organisations/{s.org_id}",
    "members": lambda s: f"/organisations/{s.org_id}/members",
    "draft": lambda s: f"/proposals/{s.draft['id']}",
    "in-review": lambda s: f"/proposals/{s.in_review['id']}",
    "accepted": lambda s: f"/proposals/{s.accepted['id']}",
    "allocation": lambda s: f"/allocations/{s.allocation_id}",
}


def test_read_of_another_organisations_item_is_not_found(app_client, world):
    def status(side: Side, path: Callable[[Side], str]) -> int:
        return app_client.get(f"{API}{path(side)}", headers=world.b.who.headers).status_code

    statuses = {item: (status(world.b, path), status(world.a, path))
                for item, path in READS.items()}

    assert statuses == {item: (200, 404) for item in READS}
    for path in READS.values():
        foreign = app_client.get(f"{API}{path(world.a)}", headers=world.b.who.headers)
        body = h.problem(foreign, 404, "not_found")
        assert "Lumen" not in foreign.text and body["instance"] == f"{API}{path(world.a)}"


LISTS: dict[str, Callable[[Side], set[Any]]] = {
    "/organisations": lambda s: {s.org_id},
    "/proposals": lambda s: s.proposal_ids,
    "/allocations": lambda s: {s.allocation_id},
}


def test_list_of_an_applicant_leaves_out_another_organisations_items(app_client, world):
    mine = {path: _ids(_get(app_client, world.b.who, path)) for path in LISTS}
    theirs = {path: _ids(_get(app_client, world.a.who, path)) for path in LISTS}
    filtered = {path: _get(app_client, world.b.who, f"{path}?organisation_id={world.a.org_id}")
                for path in ("/proposals", "/allocations")}

    assert mine == {path: expected(world.b) for path, expected in LISTS.items()}
    assert theirs == {path: expected(world.a) for path, expected in LISTS.items()}
    assert filtered == {path: {"items": [], "next_after": None} for path in filtered}


def test_audit_of_an_applicant_shows_only_their_organisations_events(app_client, world):
    def subjects(s: Side) -> set[tuple[str, int]]:
        return ({("organisation", s.org_id), ("allocation", s.allocation_id)}
                | {("proposal", i) for i in s.proposal_ids})

    events = _get(app_client, world.b.who, "/audit?limit=200")["items"]
    filtered = _get(app_client, world.b.who,
                    f"/audit?subject_type=proposal&subject_id={world.a.in_review['id']}")

    seen = {(e["subject_type"], e["subject_id"]) for e in events}
    # Each draft carries an AI Act self-assessment of its own organisation (tests/api/helpers).
    assessments = {s for s in seen if s[0] == "act-assessment"}
    assert seen - assessments == subjects(world.b)
    assert assessments and {_get(app_client, world.b.who, f"/act/assessments/{i}")[
        "organisation_id"] for _, i in assessments} == {world.b.org_id}
    assert filtered == {"items": [], "next_after": None}


def _unchanged(client: TestClient, side: Side) -> None:
    for before in side.proposals:
        after = _get(client, side.who, f"/proposals/{before['id']}")
        assert (after["state"], after["title"], after["appeal_reason"]) == (
            before["state"], before["title"], before["appeal_reason"])


ACTIONS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "patch": ("PATCH", "", {"title": "Taken over by Delta"}),
    "submit": ("POST", "/submit", None),
    "withdraw": ("POST", "/withdraw", {"reason": "we no longer need it"}),
    "appeal": ("POST", "/appeal", {"reason": "please look again"}),
}


def test_action_on_another_organisations_proposal_is_not_found(app_client, database, world):
    before = h.row_counts(database)

    responses = {(action, p["state"]): app_client.request(
        method, f"{API}/proposals/{p['id']}{suffix}", json=body, headers=world.b.who.headers)
        for action, (method, suffix, body) in ACTIONS.items() for p in world.a.proposals}

    assert {k: r.status_code for k, r in responses.items()} == dict.fromkeys(responses, 404)
    for r in responses.values():
        h.problem(r, 404, "not_found")
    assert h.row_counts(database) == before
    _unchanged(app_client, world.a)


ORG_CHANGES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "patch": ("PATCH", "", {"headcount": 400}),
    "vouch": ("POST", "/vouch", None),
    "add-member": ("POST", "/members", {"email": "bram@delta.example", "role": "admin"}),
}


def test_change_to_another_organisation_is_not_found(app_client, database, world):
    before = h.row_counts(database)
    org_before = _get(app_client, world.a.who, f"/organisations/{world.a.org_id}")

    responses = {change: app_client.request(
        method, f"{API}/organisations/{world.a.org_id}{suffix}", json=body,
        headers=world.b.who.headers) for change, (method, suffix, body) in ORG_CHANGES.items()}

    assert {c: r.status_code for c, r in responses.items()} == dict.fromkeys(ORG_CHANGES, 404)
    for r in responses.values():
        h.problem(r, 404, "not_found")
    assert h.row_counts(database) == before
    assert _get(app_client, world.a.who, f"/organisations/{world.a.org_id}") == org_before
    assert _get(app_client, world.a.who, f"/organisations/{world.a.org_id}/members") == [
        {"user_id": world.a.who.user_id, "email": world.a.who.email, "role": "admin"}]


def test_token_for_another_person_is_not_found(app_client, database, world):
    before = h.row_counts(database)

    r = app_client.post(f"{API}/users/{world.a.who.user_id}/tokens",
                        headers=world.b.who.headers)

    h.problem(r, 404, "not_found")
    assert h.row_counts(database) == before


# --- reviewers -----------------------------------------------------------------------------


def _all_proposals(world: World) -> list[dict[str, Any]]:
    return [*world.a.proposals, *world.b.proposals]


def test_reviewer_not_assigned_sees_nothing(app_client, world, make_person):
    reviewer = make_person("rev@uni.example", Role.reviewer)

    singles = [app_client.get(f"{API}/proposals/{p['id']}", headers=reviewer.headers)
               for p in _all_proposals(world)]

    for r in singles:
        h.problem(r, 404, "not_found")
    for path in ("/proposals", "/organisations", "/allocations", "/audit"):
        assert _get(app_client, reviewer, path) == {"items": [], "next_after": None}, path
    assert _get(app_client, reviewer, "/reviews") == []


def test_reviewer_assigned_sees_that_proposal_and_no_other(
        app_client, world, make_person, officer):
    reviewer = make_person("rev@uni.example", Role.reviewer)
    target = world.a.in_review
    assignment = h.assign(app_client, officer, target["id"], reviewer)

    shown = app_client.get(f"{API}/proposals/{target['id']}", headers=reviewer.headers)
    others = [app_client.get(f"{API}/proposals/{p['id']}", headers=reviewer.headers)
              for p in _all_proposals(world) if p["id"] != target["id"]]

    assert shown.status_code == 200, shown.text
    assert shown.json()["title"] == "Review of Lumen Vision B.V."
    assert len(others) == 5
    for r in others:
        h.problem(r, 404, "not_found")
    assert _ids(_get(app_client, reviewer, "/proposals")) == {target["id"]}
    assert [r["id"] for r in _get(app_client, reviewer, "/reviews")] == [assignment["id"]]
    h.problem(app_client.get(f"{API}/organisations/{world.a.org_id}", headers=reviewer.headers),
              404, "not_found")
    assert _get(app_client, reviewer, "/allocations") == {"items": [], "next_after": None}


def test_reviewer_who_declares_a_conflict_no_longer_sees_the_proposal(
        app_client, world, make_person, officer):
    reviewer = make_person("rev@uni.example", Role.reviewer)
    target = world.a.in_review
    assignment = h.assign(app_client, officer, target["id"], reviewer)

    r = app_client.post(f"{API}/reviews/{assignment['id']}/conflict", headers=reviewer.headers,
                        json={"reason": "I advised Lumen last year"})

    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["conflict_reason"]) == (
        "conflict", "I advised Lumen last year")
    h.problem(app_client.get(f"{API}/proposals/{target['id']}", headers=reviewer.headers),
              404, "not_found")
    assert _get(app_client, reviewer, "/proposals") == {"items": [], "next_after": None}
    assert _get(app_client, reviewer, "/reviews") == []


def test_officer_assigning_a_reviewer_from_the_applicant_organisation_is_refused(
        app_client, database, world, make_person, officer):
    colleague = make_person("kees@lumen.example", Role.reviewer)
    h.add_member(app_client, world.a.who, world.a.org_id, colleague)
    before = h.row_counts(database)

    r = app_client.post(f"{API}/proposals/{world.a.in_review['id']}/reviews",
                        headers=officer.headers,
                        json={"reviewer_id": colleague.user_id, "kind": "technical"})

    body = h.problem(r, 422, "policy_refusal")
    assert "conflict of interest" in body["rule"]
    assert "kees@lumen.example" in body["detail"]
    assert h.row_counts(database) == before


# --- roles ---------------------------------------------------------------------------------

OFFICER_ONLY: dict[str, Callable[[Side], tuple[str, dict[str, Any]]]] = {
    "decision": lambda s: (f"/proposals/{s.in_review['id']}/decision",
                           {"outcome": "accept", "reasons": "we think it is fine"}),
    "cutoff-release": lambda s: ("/cutoffs/release", {"mode": "large-scale"}),
    "direct-allocation": lambda s: ("/allocations/direct", {
        **builders.proposal(s.org_id, "emergency"), "reasons": "a flood in our region"}),
    "user-creation": lambda s: ("/users", {"email": "friend@lumen.example",
                                           "roles": ["access-officer"]}),
    "reviewer-assignment": lambda s: (f"/proposals/{s.in_review['id']}/reviews",
                                      {"reviewer_id": s.who.user_id, "kind": "technical"}),
    "appeal-decision": lambda s: (f"/proposals/{s.in_review['id']}/appeal-decision",
                                  {"reopen": True, "reason": "we think it is fine"}),
}


def test_applicant_doing_an_officer_action_is_forbidden(app_client, database, world):
    before = h.row_counts(database)

    responses = {action: app_client.post(f"{API}{path}", json=body, headers=world.a.who.headers)
                 for action, (path, body) in ((a, f(world.a)) for a, f in OFFICER_ONLY.items())}

    assert {a: r.status_code for a, r in responses.items()} == dict.fromkeys(OFFICER_ONLY, 403)
    for r in responses.values():
        h.problem(r, 403, "forbidden")
    assert h.row_counts(database) == before
    _unchanged(app_client, world.a)


MEMBER_NOT_ADMIN: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "vouch": ("POST", "/vouch", None),
    "add-member": ("POST", "/members", {"email": "bram@delta.example"}),
    "change-facts": ("PATCH", "", {"headcount": 400}),
}


def test_member_who_is_not_admin_managing_the_organisation_is_forbidden(
        app_client, database, world, make_person):
    member = make_person("piet@lumen.example")
    h.add_member(app_client, world.a.who, world.a.org_id, member)
    before = h.row_counts(database)

    responses = {action: app_client.request(
        method, f"{API}/organisations/{world.a.org_id}{suffix}", json=body,
        headers=member.headers) for action, (method, suffix, body) in MEMBER_NOT_ADMIN.items()}

    assert {a: r.status_code for a, r in responses.items()} == dict.fromkeys(
        MEMBER_NOT_ADMIN, 403)
    for r in responses.values():
        h.problem(r, 403, "forbidden")
    assert h.row_counts(database) == before


# --- authentication ------------------------------------------------------------------------

ENDPOINTS = [("GET", "/me"), ("GET", "/organisations"), ("POST", "/organisations"),
             ("GET", "/proposals"), ("POST", "/proposals"), ("POST", "/proposals/1/submit"),
             ("GET", "/allocations"), ("POST", "/allocations/direct"), ("GET", "/audit"),
             ("POST", "/users")]
BAD_CREDENTIALS = {
    "none": {},
    "unknown-token": {"Authorization": "Bearer fab_thisTokenWasNeverIssued"},
    "empty-bearer": {"Authorization": "Bearer "},
    "basic-scheme": {"Authorization": "Basic YW5uYTpzZWNyZXQ="},
}


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS))
def test_request_without_a_valid_token_is_unauthenticated(app_client, database, credentials):
    before = h.row_counts(database)

    responses = {f"{method} {path}": app_client.request(
        method, f"{API}{path}", headers=BAD_CREDENTIALS[credentials],
        json={} if method == "POST" else None) for method, path in ENDPOINTS}

    assert {e: r.status_code for e, r in responses.items()} == dict.fromkeys(responses, 401)
    for r in responses.values():
        h.problem(r, 401, "unauthenticated")
    assert h.row_counts(database) == before


def test_request_with_an_expired_token_is_unauthenticated(app_client, database):
    with database.unit_of_work() as s:
        user = identity.create_user(s, SYSTEM, email="late@lumen.example")
        token = identity.issue_token(s, SYSTEM, user, expires_at=utcnow() - timedelta(minutes=1))

    r = app_client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})

    body = h.problem(r, 401, "unauthenticated")
    assert "expired" in body["detail"]


# --- reviews seen by applicants ------------------------------------------------------------

PRIVATE = "The team lead reviewed for us before; strong."


def test_applicant_never_sees_reviewers_or_their_private_comments(
        app_client, world, make_person, officer):
    first = make_person("rev1@uni.example", Role.reviewer)
    second = make_person("rev2@uni.example", Role.reviewer)
    target = world.a.in_review
    done = h.review(app_client, first, h.assign(app_client, officer, target["id"], first)["id"])
    pending = h.assign(app_client, officer, target["id"], second)

    seen_by_applicant = app_client.get(f"{API}/proposals/{target['id']}",
                                       headers=world.a.who.headers)
    seen_by_other_reviewer = _get(app_client, second, f"/proposals/{target['id']}")
    seen_by_officer = _get(app_client, officer, f"/proposals/{target['id']}")

    [shown] = seen_by_applicant.json()["reviews"]
    assert (shown["id"], shown["reviewer_id"], shown["private_comment"],
            shown["comment_to_applicant"], shown["weighted_score"]) == (
        done["id"], None, None, "Ready; trim the request a little.", 3.5)
    assert PRIVATE not in seen_by_applicant.text and first.email not in seen_by_applicant.text
    assert [(r["id"], r["reviewer_id"]) for r in seen_by_other_reviewer["reviews"]] == [
        (pending["id"], second.user_id)]
    assert [(r["reviewer_id"], r["private_comment"]) for r in seen_by_officer["reviews"]] == [
        (first.user_id, PRIVATE), (second.user_id, "")]


def test_audit_seen_by_applicant_does_not_name_reviewers(app_client, world, make_person, officer):
    reviewer = make_person("rev1@uni.example", Role.reviewer)
    conflicted = make_person("rev2@uni.example", Role.reviewer)
    target = world.a.in_review
    h.review(app_client, reviewer, h.assign(app_client, officer, target["id"], reviewer)["id"])
    declared = h.assign(app_client, officer, target["id"], conflicted)
    r = app_client.post(f"{API}/reviews/{declared['id']}/conflict", headers=conflicted.headers,
                        json={"reason": "I advised Lumen last year"})
    assert r.status_code == 200, r.text

    events = _get(app_client, world.a.who,
                  f"/audit?subject_type=proposal&subject_id={target['id']}")["items"]

    review_events = [e for e in events if e["action"].startswith("review.")]
    assert [e["action"] for e in review_events] == [
        "review.assigned", "review.submitted", "review.assigned", "review.conflict-declared"]
    leaks = [(e["action"], e["actor"], e["data"].get("reviewer_id"), e["reason"])
             for e in review_events
             if e["actor"] in (reviewer.email, conflicted.email)
             or "reviewer_id" in e["data"] or "I advised Lumen" in e["reason"]]
    assert leaks == []
