"""The factories API: public catalogue, pagination and filters, operators' changes, problems."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fabriek.db.session import Database
from fabriek.federation import service
from fabriek.federation.catalogue import load_catalogue
from fabriek.federation.models import Partition
from fabriek.identity.enums import Role
from tests.api.helpers import API, audit_actions, problem, row_counts
from tests.conftest import Person

pytestmark = pytest.mark.integration
WINDOW = {"partition_id": "booster", "starts_at": "2026-12-01T08:00:00Z",
          "ends_at": "2026-12-01T18:00:00Z", "gpus": 400, "reason": "firmware update"}


@pytest.fixture
def client(app_client: TestClient, database: Database) -> TestClient:
    with database.unit_of_work() as s:
        service.sync_catalogue(s, load_catalogue())
    return app_client


@pytest.fixture
def reader(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("eva@tulpen.example.eu", Role.applicant)


@pytest.fixture
def jaif_ops(client: TestClient, officer: Person, make_person) -> Person:  # type: ignore[no-untyped-def]
    ops = make_person("ops@fz-juelich.example", Role.factory_operator)
    r = client.post(f"{API}/factories/jaif/operators", json={"email": ops.email},
                    headers=officer.headers)
    assert r.status_code == 201, r.text
    assert r.json()["operators"] == [ops.user_id]
    return ops


@pytest.fixture
def bsc_ops(client: TestClient, officer: Person, make_person) -> Person:  # type: ignore[no-untyped-def]
    ops = make_person("ops@bsc.example", Role.factory_operator)
    r = client.post(f"{API}/factories/bsc/operators", json={"email": ops.email},
                    headers=officer.headers)
    assert r.status_code == 201, r.text
    return ops


def _ids(client: TestClient, who: Person, **params: Any) -> list[str]:
    r = client.get(f"{API}/factories", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["items"]]


def test_list_pages_through_the_whole_catalogue(client, reader):  # type: ignore[no-untyped-def]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"limit": 7, **({"after": after} if after else {})}
        body = client.get(f"{API}/factories", params=params, headers=reader.headers).json()
        seen += [f["id"] for f in body["items"]]
        pages += 1
        after = body["next_after"]
        if after is None:
            break
    assert (len(seen), len(set(seen)), pages) == (33, 33, 5)
    assert seen == sorted(seen)


def test_list_filters(client, reader):  # type: ignore[no-untyped-def]
    assert _ids(client, reader, kind="antenna", country="cy") == ["antenna-cy"]
    assert _ids(client, reader, sector="healthcare", country="ES") == ["1healthai", "bsc"]
    assert _ids(client, reader, kind="local") == ["local"]
    [lux] = client.get(f"{API}/factories", params={"country": "LU"},
                       headers=reader.headers).json()["items"]
    assert (lux["gpus"], lux["capacity_basis"], lux["operational"]) == (
        2100, ["published"], False)


@pytest.mark.parametrize(("params", "fragment"), [
    ({"country": "XX"}, "'XX' is not an ISO 3166-1"),
    ({"sector": "knitting"}, "unknown sector 'knitting'"),
    ({"kind": "gigafactory"}, "kind"),
    ({"limit": 0}, "limit"),
])
def test_list_bad_filters_are_problems(client, reader, params, fragment):  # type: ignore[no-untyped-def]
    body = problem(client.get(f"{API}/factories", params=params, headers=reader.headers),
                   422, "validation_failed")
    assert fragment in body["detail"]


def test_catalogue_needs_a_signed_in_person(client):  # type: ignore[no-untyped-def]
    problem(client.get(f"{API}/factories"), 401, "unauthenticated")
    problem(client.get(f"{API}/gpu-specs"), 401, "unauthenticated")


def test_show_factory_with_partitions_sources_and_maintenance(client, reader, jaif_ops):  # type: ignore[no-untyped-def]
    r = client.post(f"{API}/factories/jaif/maintenance", json=WINDOW, headers=jaif_ops.headers)
    assert r.status_code == 201, r.text
    body = client.get(f"{API}/factories/jaif", headers=reader.headers).json()
    assert (body["name"], body["country"], body["selection_on"], body["operational"]) == (
        "JAIF – JUPITER AI Factory", "DE", "2025-03-12", True)
    [booster] = body["partitions"]
    assert (booster["gpu_model"], booster["gpus"], booster["capacity_basis"],
            booster["executor"]) == ("GH200-96GB", 24_000, "estimate", "none")
    assert "background knowledge" in booster["capacity_note"]
    assert [(w["partition_id"], w["gpus"]) for w in body["maintenance"]] == [("booster", 400)]
    assert body["sources"][0].startswith("https://techzine.eu/")
    assert body["operators"] == []  # who operates it is for officers and its operators
    mine = client.get(f"{API}/factories/jaif", headers=jaif_ops.headers).json()
    assert mine["operators"] == [jaif_ops.user_id]
    problem(client.get(f"{API}/factories/atlantis", headers=reader.headers), 404, "not_found")


def test_set_capacity_by_its_operator(client, database, jaif_ops):  # type: ignore[no-untyped-def]
    r = client.put(f"{API}/factories/jaif/partitions/booster/capacity",
                   json={"nodes": 5900, "gpus_per_node": 4, "note": "acceptance report"},
                   headers=jaif_ops.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["gpus"], r.json()["capacity_basis"]) == (23_600, "operator")
    assert audit_actions(database, "factory.capacity_set") == 1


def test_set_capacity_by_another_factorys_operator_changes_nothing(client, database, bsc_ops,
                                                                   reader):  # type: ignore[no-untyped-def]
    before = row_counts(database)
    url = f"{API}/factories/jaif/partitions/booster/capacity"
    body = {"nodes": 1, "gpus_per_node": 1}
    problem(client.put(url, json=body, headers=bsc_ops.headers), 403, "forbidden")
    problem(client.put(url, json=body, headers=reader.headers), 403, "forbidden")
    problem(client.put(f"{API}/factories/jaif/partitions/nope/capacity", json=body,
                       headers=bsc_ops.headers), 404, "not_found")
    assert row_counts(database) == before
    with database.unit_of_work(readonly=True) as s:
        assert s.get(Partition, ("jaif", "booster")).nodes == 6000


@pytest.mark.parametrize(("body", "fragment"), [
    ({"nodes": 0, "gpus_per_node": 4}, "nodes"),
    ({"nodes": 10, "gpus_per_node": 1000}, "gpus_per_node"),
    ({"nodes": 10, "gpus_per_node": 4, "gpu_model": "TPU-v5"}, "unknown gpu_model 'TPU-v5'"),
    ({"nodes": 10, "gpus_per_node": 4, "gpu_memory_gb": -1}, "gpu_memory_gb"),
    ({"nodes": "many", "gpus_per_node": 4}, "nodes"),
    ({"nodes": 10}, "gpus_per_node"),
    ({"nodes": 10, "gpus_per_node": 4, "capacity_basis": "published"}, "capacity_basis"),
])
def test_set_capacity_bad_values_are_problems_and_write_nothing(client, database, jaif_ops,
                                                                body, fragment):  # type: ignore[no-untyped-def]
    before = row_counts(database)
    r = client.put(f"{API}/factories/jaif/partitions/booster/capacity", json=body,
                   headers=jaif_ops.headers)
    assert fragment in problem(r, 422, "validation_failed")["detail"]
    assert row_counts(database) == before
    with database.unit_of_work(readonly=True) as s:
        p = s.get(Partition, ("jaif", "booster"))
        assert (p.nodes, p.gpus_per_node, p.capacity_basis) == (6000, 4, "estimate")


def test_maintenance_create_list_delete_with_idempotency(client, database, jaif_ops, reader):  # type: ignore[no-untyped-def]
    url = f"{API}/factories/jaif/maintenance"
    headers = {**jaif_ops.headers, "Idempotency-Key": "mw-1"}
    first = client.post(url, json=WINDOW, headers=headers)
    again = client.post(url, json=WINDOW, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == again.json()
    listed = client.get(url, headers=reader.headers).json()
    assert [w["id"] for w in listed] == [first.json()["id"]]
    wid = first.json()["id"]
    problem(client.delete(f"{url}/{wid}", headers=reader.headers), 403, "forbidden")
    assert client.delete(f"{url}/{wid}", headers=jaif_ops.headers).status_code == 204
    problem(client.delete(f"{url}/{wid}", headers=jaif_ops.headers), 404, "not_found")
    assert client.get(url, headers=reader.headers).json() == []
    assert audit_actions(database, "factory.maintenance_added") == 1
    assert audit_actions(database, "factory.maintenance_removed") == 1


@pytest.mark.parametrize(("over", "fragment"), [
    ({"ends_at": "2026-12-01T07:00:00Z"}, "ends_at must be after starts_at"),
    ({"starts_at": "2026-12-01T08:00:00"}, "time zone"),
    ({"gpus": 30_000}, "more than the 24,000 GPUs"),
    ({"gpus": 0}, "gpus"),
    ({"partition_id": "cpu"}, "has no partition 'cpu'"),
    ({"reason": ""}, "reason"),
])
def test_maintenance_bad_windows_are_problems(client, database, jaif_ops, over, fragment):  # type: ignore[no-untyped-def]
    before = row_counts(database)
    r = client.post(f"{API}/factories/jaif/maintenance", json={**WINDOW, **over},
                    headers=jaif_ops.headers)
    assert fragment in problem(r, 422, "validation_failed")["detail"]
    assert row_counts(database) == before


def test_add_operator_is_for_access_officers(client, database, jaif_ops, make_person):  # type: ignore[no-untyped-def]
    other = make_person("ops2@fz-juelich.example", Role.factory_operator)
    before = row_counts(database)
    problem(client.post(f"{API}/factories/jaif/operators", json={"email": other.email},
                        headers=jaif_ops.headers), 403, "forbidden")
    problem(client.post(f"{API}/factories/jaif/operators", json={"email": "not-an-email"},
                        headers=jaif_ops.headers), 422, "validation_failed")
    assert row_counts(database) == before


def test_gpu_specs_endpoint(client, reader):  # type: ignore[no-untyped-def]
    specs = {g["model"]: g for g in client.get(f"{API}/gpu-specs",
                                                headers=reader.headers).json()}
    assert specs["H100-SXM5-80GB"]["bf16_dense_tflops"] == 989
    assert specs["MI300A"]["checked"] is False
    assert all(g["source_url"].startswith("https://") for g in specs.values())
