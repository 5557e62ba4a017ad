"""FABRIEK_WRITE_CONCURRENCY: write requests beyond the limit wait their turn; none is lost or
refused, and reads are never held back by it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from fabriek.api.app import create_app
from fabriek.settings import Settings
from tests import builders
from tests.api import helpers as h
from tests.api.helpers import API

pytestmark = pytest.mark.integration


def test_one_write_slot_serves_concurrent_applications(database, access, make_person, tmp_path):
    app = create_app(Settings(data_dir=tmp_path, write_concurrency=1), database=database,
                     access=access, run_reconciler=False)
    people = [make_person(f"a{i}@lumen.example") for i in range(6)]
    with TestClient(app) as client:
        orgs = [h.org(client, p, legal_name=f"Lumen {i} B.V.", registration_id=f"KVK-1000{i}")
                for i, p in enumerate(people)]
        start = threading.Barrier(len(people))

        def apply(i: int) -> int:
            start.wait()
            r = client.post(f"{API}/proposals", headers=people[i].headers,
                            json=builders.proposal(orgs[i]))
            health = client.get(f"{API}/health")
            assert health.status_code == 200
            return r.status_code

        with ThreadPoolExecutor(len(people)) as pool:
            assert list(pool.map(apply, range(len(people)))) == [201] * len(people)
    assert h.row_counts(database)["proposals"] == len(people)


def test_the_limit_is_validated():
    with pytest.raises(ValueError, match="write_concurrency"):
        Settings(write_concurrency=0)
