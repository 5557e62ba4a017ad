"""Idempotency-Key: a retried creating or acting request changes nothing more and gets the first
response back, per person, also when the retries arrive at the same moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fabriek.access.models import Allocation, Proposal
from fabriek.db.idempotency import IdempotencyKey
from fabriek.identity.models import Organisation, User
from tests import builders
from tests.api import helpers as h
from tests.api.helpers import API
from tests.conftest import Person

pytestmark = pytest.mark.integration


def _count(database: Any, model: Any) -> int:
    with database.unit_of_work(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def _post(client: TestClient, who: Person, path: str, body: Any, key: str | None) -> Any:
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"{API}{path}", json=body, headers=headers)


@pytest.fixture
def applicant(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("anna@lumen.example")


@pytest.fixture
def org_id(app_client: TestClient, applicant: Person) -> int:
    return h.org(app_client, applicant)


def test_create_proposal_retried_with_the_same_key_returns_the_first_response(
        app_client, database, applicant, org_id):
    body = builders.proposal(org_id)

    first = _post(app_client, applicant, "/proposals", body, "draft-2026-11-21-a")
    retry = _post(app_client, applicant, "/proposals", body, "draft-2026-11-21-a")

    assert (first.status_code, retry.status_code) == (201, 201), retry.text
    assert retry.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert _count(database, Proposal) == 1
    assert h.audit_actions(database, "proposal.drafted") == 1
    assert _count(database, IdempotencyKey) == 1


def test_create_proposal_retried_with_the_same_key_and_another_body_is_conflict(
        app_client, database, applicant, org_id):
    first = _post(app_client, applicant, "/proposals", builders.proposal(org_id), "k-1")
    assert first.status_code == 201, first.text
    before = h.row_counts(database)

    retries = {
        "other-body": _post(app_client, applicant, "/proposals",
                            builders.proposal(org_id, title="Another title"), "k-1"),
        "other-endpoint": _post(app_client, applicant, "/organisations",
                                builders.startup_org(registration_id="KVK-2"), "k-1"),
    }

    for r in retries.values():
        body = h.problem(r, 409, "conflict")
        assert "Idempotency-Key" in body["detail"] and "different request" in body["detail"]
    assert h.row_counts(database) == before
    assert _count(database, Proposal) == 1


def test_same_key_from_two_people_creates_for_each(app_client, database, make_person,
                                                   applicant, org_id):
    colleague = make_person("kees@lumen.example")
    h.add_member(app_client, applicant, org_id, colleague)
    body = builders.proposal(org_id)

    mine = _post(app_client, applicant, "/proposals", body, "shared-key")
    theirs = _post(app_client, colleague, "/proposals", body, "shared-key")
    my_retry = _post(app_client, applicant, "/proposals", body, "shared-key")
    their_retry = _post(app_client, colleague, "/proposals", body, "shared-key")

    assert [r.status_code for r in (mine, theirs, my_retry, their_retry)] == [201] * 4
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers
    assert (my_retry.json(), their_retry.json()) == (mine.json(), theirs.json())
    assert _count(database, Proposal) == 2
    assert h.audit_actions(database, "proposal.drafted") == 2


def test_submit_retried_with_the_same_key_returns_the_first_response(
        app_client, database, applicant, org_id):
    proposal_id = h.draft(app_client, applicant, org_id)["id"]
    path = f"/proposals/{proposal_id}/submit"

    first = _post(app_client, applicant, path, None, "submit-1")
    retry = _post(app_client, applicant, path, None, "submit-1")
    without_key = _post(app_client, applicant, path, None, None)

    assert (first.status_code, retry.status_code) == (200, 200), retry.text
    assert first.json()["state"] == "accepted"
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    h.problem(without_key, 409, "invalid_transition")
    assert h.audit_actions(database, "proposal.submitted", proposal_id) == 1
    assert h.audit_actions(database, "proposal.accepted", proposal_id) == 1
    assert _count(database, Allocation) == 1


FAILURES: dict[str, tuple[dict[str, Any], str]] = {
    # refused by the request schema, before any work
    "invalid-body": ({"gpu_hours": 0}, "validation_failed"),
    # refused by the use case, after the key row was inserted
    "refused-by-the-use-case": ({"mode": "hackathon"}, "validation_failed"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failed_request_with_a_key_can_be_retried_corrected(
        app_client, database, applicant, org_id, failure):
    over, code = FAILURES[failure]

    failed = _post(app_client, applicant, "/proposals", builders.proposal(org_id, **over),
                   "attempt-1")
    h.problem(failed, 422, code)
    assert (_count(database, Proposal), _count(database, IdempotencyKey)) == (0, 0)

    corrected = _post(app_client, applicant, "/proposals", builders.proposal(org_id),
                      "attempt-2")
    same_key = _post(app_client, applicant, "/proposals", builders.proposal(org_id, title="B"),
                     "attempt-1")

    assert (corrected.status_code, same_key.status_code) == (201, 201), same_key.text
    assert "idempotent-replayed" not in same_key.headers
    assert _count(database, Proposal) == 2
    assert _count(database, IdempotencyKey) == 2


# name: (path, body, table whose rows the request creates, audit action)
CREATING: dict[str, tuple[Callable[[int], str], Callable[[int], Any], Any, str]] = {
    "organisation": (lambda o: "/organisations",
                     lambda o: builders.startup_org(registration_id="KVK-99999999"),
                     Organisation, "organisation.registered"),
    "user": (lambda o: "/users", lambda o: {"email": "new@lumen.example"}, User,
             "user.created"),
    "direct-allocation": (lambda o: "/allocations/direct",
                          lambda o: {**builders.proposal(o, "strategic"),
                                     "reasons": "Destination Earth"},
                          Allocation, "allocation.created"),
}


@pytest.mark.parametrize("endpoint", list(CREATING))
def test_create_retried_with_the_same_key_creates_once(
        app_client, database, officer, org_id, endpoint):
    path, body, model, action = CREATING[endpoint]
    rows, events = _count(database, model), h.audit_actions(database, action)

    first = _post(app_client, officer, path(org_id), body(org_id), f"{endpoint}-1")
    retry = _post(app_client, officer, path(org_id), body(org_id), f"{endpoint}-1")

    assert (first.status_code, retry.status_code) == (201, 201), first.text
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert (_count(database, model), h.audit_actions(database, action)) == (rows + 1,
                                                                           events + 1)


def test_concurrent_creates_with_the_same_key_make_one_proposal(
        app_client, database, applicant, org_id):
    body, workers = builders.proposal(org_id), 8
    start = threading.Barrier(workers)

    def create(_: int) -> Any:
        start.wait(timeout=10)
        return _post(app_client, applicant, "/proposals", body, "concurrent-1")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        responses = list(pool.map(create, range(workers)))

    assert [r.status_code for r in responses] == [201] * workers, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in responses) == (
        [""] + ["true"] * (workers - 1))
    assert _count(database, Proposal) == 1
    assert h.audit_actions(database, "proposal.drafted") == 1


def test_acting_posts_retried_with_the_same_key_act_once(app_client, database, applicant):
    org = h.org(app_client, applicant, vouch=False)
    headers = {**applicant.headers, "Idempotency-Key": "vouch-once"}
    first = app_client.post(f"{API}/organisations/{org}/vouch", headers=headers)
    retry = app_client.post(f"{API}/organisations/{org}/vouch", headers=headers)
    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    assert h.audit_actions(database, "organisation.vouched") == 1
