"""Small helpers shared by the API tests: set up through the API, read problems, count rows."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from fabriek.audit.models import AuditEvent
from fabriek.db.registry import metadata
from fabriek.db.session import Database
from tests import builders
from tests.conftest import Person

API = "/api/v1"
PROBLEM = "application/problem+json"


def problem(r: Response, status: int, code: str) -> dict[str, Any]:
    """Assert `r` is an RFC 9457 problem with this status and code; return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert (body["status"], body["code"], body["type"]) == (
        status, code, f"urn:fabriek:problem:{code}"), body
    assert body["title"] and body["detail"], body
    return body


def org(client: TestClient, who: Person, *, vouch: bool = True, **over: Any) -> int:
    r = client.post(f"{API}/organisations?vouch={str(vouch).lower()}",
                    json=builders.startup_org(**over), headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def self_assess(client: TestClient, who: Person, proposal: dict[str, Any],
                answers: dict[str, Any] | None = None) -> int:
    """Self-assess under the AI Act (minimal risk unless told) and attach it to the draft."""
    r = client.post(f"{API}/act/assessments", headers=who.headers,
                    json=builders.assessment(proposal["organisation_id"], answers))
    assert r.status_code == 201, r.text
    assessment_id = r.json()["id"]
    r = client.put(f"{API}/proposals/{proposal['id']}/self-assessment", headers=who.headers,
                   json={"assessment_id": assessment_id})
    assert r.status_code == 200, r.text
    return assessment_id


def draft(client: TestClient, who: Person, org_id: int, mode: str = "playground",
          **over: Any) -> dict[str, Any]:
    """A draft carrying a minimal-risk AI Act self-assessment."""
    r = client.post(f"{API}/proposals", json=builders.proposal(org_id, mode, **over),
                    headers=who.headers)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "draft"
    self_assess(client, who, r.json())
    return r.json()


def submit(client: TestClient, who: Person, proposal_id: int, expect: str) -> dict[str, Any]:
    r = client.post(f"{API}/proposals/{proposal_id}/submit", headers=who.headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == expect, r.json()
    return r.json()


def in_review(client: TestClient, who: Person, org_id: int, **over: Any) -> dict[str, Any]:
    """A Fast Lane proposal, submitted: admission checks passed, waiting for review."""
    p = draft(client, who, org_id, "fast-lane", **{"gpu_hours": 40_000, "duration_months": 3,
                                                   **over})
    return submit(client, who, p["id"], "in-review")


def accepted(client: TestClient, who: Person, org_id: int, **over: Any) -> dict[str, Any]:
    """A Playground proposal, accepted automatically, with its allocation."""
    p = draft(client, who, org_id, "playground", **over)
    body = submit(client, who, p["id"], "accepted")
    assert len(body["allocation_ids"]) == 1
    return body


def assign(client: TestClient, officer: Person, proposal_id: int, reviewer: Person,
           kind: str = "technical") -> dict[str, Any]:
    r = client.post(f"{API}/proposals/{proposal_id}/reviews", headers=officer.headers,
                    json={"reviewer_id": reviewer.user_id, "kind": kind})
    assert r.status_code == 201, r.text
    return r.json()


def review(client: TestClient, reviewer: Person, review_id: int, **over: Any) -> dict[str, Any]:
    body = {"scores": {"technical-readiness": 4, "resources": 3},
            "comment_to_applicant": "Ready; trim the request a little.",
            "private_comment": "The team lead reviewed for us before; strong.", **over}
    r = client.post(f"{API}/reviews/{review_id}/submit", headers=reviewer.headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def add_member(client: TestClient, admin: Person, org_id: int, who: Person,
               role: str = "member") -> None:
    r = client.post(f"{API}/organisations/{org_id}/members", headers=admin.headers,
                    json={"email": who.email, "role": role})
    assert r.status_code == 201, r.text


def row_counts(database: Database) -> dict[str, int]:
    """Rows in every table, audit_events and idempotency_keys included."""
    with database.unit_of_work(readonly=True) as s:
        return {t.name: s.scalar(select(func.count()).select_from(t))
                for t in metadata.sorted_tables}


def audit_actions(database: Database, action: str, subject_id: int | None = None) -> int:
    q = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if subject_id is not None:
        q = q.where(AuditEvent.subject_id == subject_id)
    with database.unit_of_work(readonly=True) as s:
        return s.scalar(q)
