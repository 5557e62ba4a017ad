"""Builders for compute tests: an organisation with a small allocation, jobs on it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from fabriek.api.app import create_app
from fabriek.settings import Settings
from tests import builders
from tests.conftest import Person


@contextmanager
def api_with(database: Any, access: Any, executors: Any, data_dir: Path
             ) -> Iterator[TestClient]:
    """The API over these executors with its reconciler off: the tests drive passes."""
    app = create_app(Settings(data_dir=data_dir), database=database, access=access,
                     executors=executors, run_reconciler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


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


def until(reconciler: Any, client: TestClient, who: Person, job_id: int,
          done: Callable[[dict[str, Any]], bool], timeout: float = 30,
          interval: float = 0.1) -> dict[str, Any]:
    """Run reconciler passes until the job, as its owner sees it, is `done`."""
    deadline = time.monotonic() + timeout
    while True:
        reconciler.run_once()
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=who.headers).json()
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck in {job['state']}: {job}"
        time.sleep(interval)
