"""Governed access through the API: every access level, request → decision → grant → read,
expiry, revocation, the read log for stewards, and nobody seeing what is not theirs."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from fabriek.datalab.grants import sweep_expired
from fabriek.datalab.models import Grant, ReadEvent
from fabriek.identity.enums import Role
from fabriek.kit.clock import utcnow
from tests.api.helpers import problem, row_counts
from tests.compute.helpers import allocation
from tests.datalab.conftest import API, dataset_body, publish, upload

pytestmark = pytest.mark.integration

CSV = b"stay,hour,heart_rate\n1,0,82\n1,1,79\n"


def _project(client, officer, applicant, **org: Any) -> dict[str, int]:
    alloc_id = allocation(client, officer, applicant, **org)
    a = client.get(f"/api/v1/allocations/{alloc_id}", headers=applicant.headers).json()
    return {"organisation_id": a["organisation_id"], "proposal_id": a["proposal_id"],
            "allocation_id": alloc_id}


def _request(project: dict[str, int], *, by_allocation: bool = True, **over: Any
             ) -> dict[str, Any]:
    body: dict[str, Any] = {"organisation_id": project["organisation_id"],
                            "purpose": "Fine-tune a triage model for Dutch ICUs",
                            "expires_on": (date.today() + timedelta(days=90)).isoformat()}
    if by_allocation:
        body["allocation_id"] = project["allocation_id"]
    else:
        body["proposal_id"] = project["proposal_id"]
    return {**body, **over}


@pytest.fixture
def world(client, steward, officer, make_person):  # type: ignore[no-untyped-def]
    """A steward's dataset at each access level with one file, and an applicant with a
    project (an allocation of their organisation)."""
    applicant = make_person("lab@lumen.example")
    ids = {}
    for level in ("open", "registered", "approval", "permit"):
        slug = f"vitals-{level}"
        publish(client, steward, slug, access_level=level)
        ids[level] = upload(client, steward, slug, "vitals.csv", CSV).json()["id"]
    return {"applicant": applicant, "project": _project(client, officer, applicant),
            "files": ids}


def _get(client, level: str, files: dict[str, int], who=None, **params: str):  # type: ignore[no-untyped-def]
    return client.get(f"{API}/datasets/vitals-{level}/distributions/{files[level]}/content",
                      headers=who.headers if who else {}, params=params)


def test_every_access_level(client, world, make_person):
    files, applicant = world["files"], world["applicant"]
    stranger = make_person("someone@elsewhere.example")
    # open: anyone, even without a token.
    assert _get(client, "open", files).content == CSV
    # registered: any signed-in person.
    problem(_get(client, "registered", files), 401, "unauthenticated")
    assert _get(client, "registered", files, stranger).content == CSV
    # approval and permit: a grant first.
    for level in ("approval", "permit"):
        problem(_get(client, level, files), 401, "unauthenticated")
        body = problem(_get(client, level, files, applicant), 422, "policy_refusal")
        assert body["rule"] == "datalab.no-grant" and "request access" in body["detail"]
    # Each allowed read is in the log, with the rule that allowed it.
    with client.app.state.db.unit_of_work(readonly=True) as s:
        rules = sorted((r.who, r.rule) for r in s.query(ReadEvent))
    assert rules == [("anonymous", "datalab.open"),
                     ("someone@elsewhere.example", "datalab.registered")]


def test_request_approve_grant_read_and_the_steward_sees_it(client, world, steward):
    files, applicant, project = world["files"], world["applicant"], world["project"]
    r = client.post(f"{API}/datasets/vitals-approval/requests", headers=applicant.headers,
                    json=_request(project))
    assert r.status_code == 201, r.text
    req = r.json()
    assert (req["state"], req["allocation_id"], req["proposal_id"]) == (
        "pending", project["allocation_id"], project["proposal_id"])
    queue = client.get(f"{API}/requests", params={"queue": "true"}, headers=steward.headers)
    assert [x["id"] for x in queue.json()["items"]] == [req["id"]]
    # Still no access while pending.
    problem(_get(client, "approval", files, applicant), 422, "policy_refusal")
    short = (date.today() + timedelta(days=30)).isoformat()
    r = client.post(f"{API}/requests/{req['id']}/decision", headers=steward.headers,
                    json={"approve": True, "reasons": "Purpose fits the data use terms.",
                          "expires_on": short})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved" and r.json()["grant_id"]
    grant = client.get(f"{API}/grants/{r.json()['grant_id']}", headers=applicant.headers).json()
    assert grant["state"] == "valid" and grant["expires_at"].startswith(
        (date.today() + timedelta(days=31)).isoformat())
    d = _get(client, "approval", files, applicant, purpose="first training run")
    assert d.status_code == 200 and d.content == CSV
    log = client.get(f"{API}/datasets/vitals-approval/reads", headers=steward.headers)
    assert log.status_code == 200
    [read] = log.json()["items"]
    assert (read["who"], read["action"], read["purpose"], read["grant_id"], read["rule"],
            read["organisation_id"], read["file_name"]) == (
        "lab@lumen.example", "download", "first training run", grant["id"], "datalab.grant",
        project["organisation_id"], "vitals.csv")
    # The applicant does not see the read log.
    problem(client.get(f"{API}/datasets/vitals-approval/reads", headers=applicant.headers),
            403, "forbidden")


def test_permit_level_needs_the_permit_reference(client, world, steward, database):
    applicant, project = world["applicant"], world["project"]
    before = row_counts(database)
    body = problem(client.post(f"{API}/datasets/vitals-permit/requests",
                               headers=applicant.headers, json=_request(project)),
                   422, "policy_refusal")
    assert body["rule"] == "datalab.permit-required"
    assert row_counts(database) == before
    r = client.post(f"{API}/datasets/vitals-permit/requests", headers=applicant.headers,
                    json=_request(project, permit_reference="HDAB-NL-2026-0042"))
    assert r.status_code == 201, r.text
    client.post(f"{API}/requests/{r.json()['id']}/decision", headers=steward.headers,
                json={"approve": True, "reasons": "Permit checked with the HDAB."})
    assert _get(client, "permit", world["files"], applicant).status_code == 200
    grant = client.get(f"{API}/grants", headers=applicant.headers).json()["items"][0]
    assert grant["permit_reference"] == "HDAB-NL-2026-0042"


def test_no_request_for_open_data_and_bad_requests_write_nothing(client, world, database,
                                                                 make_person, officer):
    applicant, project = world["applicant"], world["project"]
    other = make_person("rival@other.example")
    other_project = _project(client, officer, other, legal_name="Rival B.V.",
                             registration_id="KVK-99999999")
    before = row_counts(database)
    cases = [
        ("vitals-open", _request(project), 409, "conflict"),
        ("vitals-approval", _request(project, expires_on="2020-01-01"), 400, "bad_request"),
        ("vitals-approval", _request(project, expires_on=(
            date.today() + timedelta(days=800)).isoformat()), 400, "bad_request"),
        # Someone else's organisation, or a project of another organisation.
        ("vitals-approval", _request(other_project), 404, "not_found"),
        ("vitals-approval", {**_request(project),
                             "allocation_id": other_project["allocation_id"]}, 404, "not_found"),
        ("vitals-approval", {**_request(project), "proposal_id": project["proposal_id"]},
         422, "validation_failed"),
        ("vitals-approval", _request(project, purpose="x"), 422, "validation_failed"),
        ("no-such", _request(project), 404, "not_found"),
    ]
    for slug, body, status, code in cases:
        problem(client.post(f"{API}/datasets/{slug}/requests", headers=applicant.headers,
                            json=body), status, code)
    assert row_counts(database) == before


def test_others_requests_and_grants_are_invisible(client, world, steward, make_person,
                                                  officer):
    applicant, project = world["applicant"], world["project"]
    req = client.post(f"{API}/datasets/vitals-approval/requests", headers=applicant.headers,
                      json=_request(project)).json()
    client.post(f"{API}/requests/{req['id']}/decision", headers=steward.headers,
                json={"approve": True, "reasons": "Fine."})
    grant_id = client.get(f"{API}/requests/{req['id']}",
                          headers=applicant.headers).json()["grant_id"]
    other = make_person("rival@other.example")
    _project(client, officer, other, legal_name="Rival B.V.", registration_id="KVK-99999999")
    other_steward = make_person("steward2@datalab.example", Role.data_steward)
    for who in (other, other_steward, officer):
        problem(client.get(f"{API}/requests/{req['id']}", headers=who.headers), 404,
                "not_found")
        problem(client.get(f"{API}/grants/{grant_id}", headers=who.headers), 404, "not_found")
        assert client.get(f"{API}/requests", headers=who.headers).json()["items"] == []
        assert client.get(f"{API}/grants", headers=who.headers).json()["items"] == []
    assert client.get(f"{API}/requests", params={"queue": "true", "state": "approved"},
                      headers=other_steward.headers).json()["items"] == []
    assert [g["id"] for g in client.get(f"{API}/grants", params={"stewarded": "true"},
                                        headers=steward.headers).json()["items"]] == [grant_id]
    # And the other organisation's member cannot use the grant.
    problem(_get(client, "approval", world["files"], other), 422, "policy_refusal")


def test_role_refusals(client, world, steward, make_person, database):
    applicant, project = world["applicant"], world["project"]
    req = client.post(f"{API}/datasets/vitals-approval/requests", headers=applicant.headers,
                      json=_request(project)).json()
    other_steward = make_person("steward2@datalab.example", Role.data_steward)
    before = row_counts(database)
    decision = {"approve": True, "reasons": "I approve my own."}
    # The applicant (who sees the request) may not decide it; a steward of another dataset
    # does not even see it.
    problem(client.post(f"{API}/requests/{req['id']}/decision", headers=applicant.headers,
                        json=decision), 403, "forbidden")
    problem(client.post(f"{API}/requests/{req['id']}/decision",
                        headers=other_steward.headers, json=decision), 404, "not_found")
    # Applicants neither publish nor see the queue; nobody but stewards changes a dataset.
    problem(client.post(f"{API}/datasets", headers=applicant.headers,
                        json=dataset_body("mine")), 403, "forbidden")
    problem(client.get(f"{API}/requests", params={"queue": "true"},
                       headers=applicant.headers), 403, "forbidden")
    problem(client.patch(f"{API}/datasets/vitals-open", headers=other_steward.headers,
                         json={"keywords": ["changed"]}), 403, "forbidden")
    problem(client.post(f"{API}/grants/sweep", headers=applicant.headers), 403, "forbidden")
    assert row_counts(database) == before


def test_a_steward_who_is_a_member_of_the_requesting_organisation_may_not_decide(
        client, officer, make_person, database):
    steward = make_person("both@datalab.example", Role.data_steward, Role.applicant)
    publish(client, steward, "vitals", access_level="approval")
    # The steward applies on behalf of an organisation they belong to.
    project = _project(client, officer, steward)
    req = client.post(f"{API}/datasets/vitals/requests", headers=steward.headers,
                      json=_request(project)).json()
    body = problem(client.post(f"{API}/requests/{req['id']}/decision", headers=steward.headers,
                               json={"approve": True, "reasons": "Looks fine to me."}),
                   403, "forbidden")
    assert "another steward" in body["detail"]


def test_a_grant_expires_by_itself_and_the_sweep_records_it(client, world, steward, database):
    files, applicant, project = world["files"], world["applicant"], world["project"]
    req = client.post(f"{API}/datasets/vitals-approval/requests", headers=applicant.headers,
                      json=_request(project, by_allocation=False)).json()
    grant_id = client.post(f"{API}/requests/{req['id']}/decision", headers=steward.headers,
                           json={"approve": True, "reasons": "OK."}).json()["grant_id"]
    assert _get(client, "approval", files, applicant).status_code == 200
    # Time passes: the grant's moment comes (moved back instead of waiting).
    with database.unit_of_work() as s:
        s.execute(update(Grant).where(Grant.id == grant_id).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    body = problem(_get(client, "approval", files, applicant), 422, "policy_refusal")
    assert body["rule"] == "datalab.grant-expired"
    assert client.get(f"{API}/grants/{grant_id}",
                      headers=applicant.headers).json()["state"] == "expired"
    r = client.post(f"{API}/grants/sweep", headers=steward.headers)
    assert r.json() == {"expired": 1}
    assert client.post(f"{API}/grants/sweep", headers=steward.headers).json() == {"expired": 0}
    with database.unit_of_work() as s:
        assert sweep_expired(s) == 0
        assert s.get(Grant, grant_id).expired_at is not None
    # Reads refused are not logged as reads.
    with database.unit_of_work(readonly=True) as s:
        assert s.query(ReadEvent).count() == 1


def test_revocation_ends_access_at_once(client, world, steward, database):
    files, applicant, project = world["files"], world["applicant"], world["project"]
    req = client.post(f"{API}/datasets/vitals-approval/requests", headers=applicant.headers,
                      json=_request(project)).json()
    grant_id = client.post(f"{API}/requests/{req['id']}/decision", headers=steward.headers,
                           json={"approve": True, "reasons": "OK."}).json()["grant_id"]
    assert _get(client, "approval", files, applicant).status_code == 200
    problem(client.post(f"{API}/grants/{grant_id}/revoke", headers=applicant.headers,
                        json={"reason": "I revoke"}), 403, "forbidden")
    r = client.post(f"{API}/grants/{grant_id}/revoke", headers=steward.headers,
                    json={"reason": "Data use terms breached (shared outside the project)."})
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    body = problem(_get(client, "approval", files, applicant), 422, "policy_refusal")
    assert body["rule"] == "datalab.grant-revoked"
    problem(client.post(f"{API}/grants/{grant_id}/revoke", headers=steward.headers,
                        json={"reason": "again"}), 409, "invalid_transition")


def test_rejection_and_withdrawal(client, world, steward):
    applicant, project = world["applicant"], world["project"]
    first = client.post(f"{API}/datasets/vitals-approval/requests", headers=applicant.headers,
                        json=_request(project)).json()
    problem(client.post(f"{API}/datasets/vitals-approval/requests", headers=applicant.headers,
                        json=_request(project)), 409, "conflict")  # one pending at a time
    r = client.post(f"{API}/requests/{first['id']}/decision", headers=steward.headers,
                    json={"approve": False, "reasons": "The purpose is too vague."})
    assert r.json()["state"] == "rejected" and r.json()["grant_id"] is None
    assert r.json()["decision_reasons"] == "The purpose is too vague."
    problem(client.post(f"{API}/requests/{first['id']}/decision", headers=steward.headers,
                        json={"approve": True, "reasons": "Changed my mind."}), 409,
            "invalid_transition")
    second = client.post(f"{API}/datasets/vitals-approval/requests", headers=applicant.headers,
                         json=_request(project)).json()
    problem(client.post(f"{API}/requests/{second['id']}/withdraw", headers=steward.headers,
                        json={}), 403, "forbidden")
    r = client.post(f"{API}/requests/{second['id']}/withdraw", headers=applicant.headers,
                    json={"reason": "Not needed after all"})
    assert r.json()["state"] == "withdrawn"
    assert client.get(f"{API}/requests", params={"queue": "true"},
                      headers=steward.headers).json()["items"] == []
