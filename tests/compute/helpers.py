"""Builders for compute tests: an organisation with a small allocation, jobs on it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests import builders
from tests.conftest import Person


def allocation(client: TestClient, officer: Person, applicant: Person, *, gpu_hours: int = 10,
               mode: str = "strategic", **org: Any) -> int:
    """A direct allocation of `gpu_hours` to a vouched organisation of `applicant`."""
    r = client.post("/api/v1/organisations?vouch=true", json=builders.startup_org(**org),
                    headers=applicant.headers)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/allocations/direct", headers=officer.headers, json={
        **builders.proposal(r.json()["id"], mode, gpu_hours=gpu_hours, duration_months=1),
        "reasons": "test allocation"})
    assert r.status_code == 201, r.text
    return r.json()["allocation_ids"][0]


def job(allocation_id: int, **over: Any) -> dict[str, Any]:
    body = {"allocation_id": allocation_id, "name": "train-1", "gpus": 1,
            "time_limit_minutes": 60, "command": ["python3", "-c", "print('hello')"]}
    return {**body, **over}
