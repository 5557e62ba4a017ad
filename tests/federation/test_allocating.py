"""Allocations through the federation: capacity under concurrency, the referral endpoint,
officer overrides, and jobs placed across an allocation's sites around a dead factory."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from fabriek.access.models import Allocation, AllocationSite
from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.executors.slurm.executor import SlurmExecutor
from fabriek.compute.models import Job, SiteHealth
from fabriek.compute.reconciler import Reconciler
from fabriek.compute.registry import Executors
from fabriek.federation import capacity
from fabriek.federation.domain import (
    CapacityBasis,
    Commitment,
    ExecutorKind,
    PartitionProfile,
)
from fabriek.federation.ledger import CapacityLedgerRow
from fabriek.federation.models import Partition
from fabriek.identity.enums import Role
from tests.api import helpers as h
from tests.compute import helpers as ch
from tests.conftest import LOCAL_TEST_NODES
from tests.support.federation import add_factory
from tests.support.postgres import free_port

pytestmark = pytest.mark.integration
API = "/api/v1"


def _next_monday() -> date:
    today = date.today()
    return today + timedelta(days=7 - today.weekday())


def _set_nodes(database, factory: str, partition: str, nodes: int) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        s.execute(update(Partition).where(Partition.factory_id == factory,
                                          Partition.id == partition).values(nodes=nodes))


def _ledger_is_consistent(database, key: tuple[str, str], gpus: int) -> dict[date, float]:  # type: ignore[no-untyped-def]
    """The ledger equals what the allocations' sites hold, and never exceeds what exists."""
    with database.unit_of_work(readonly=True) as s:
        rows = {r.week: r.committed_gpu_hours for r in s.execute(select(CapacityLedgerRow).where(
            CapacityLedgerRow.factory == key[0], CapacityLedgerRow.partition == key[1]))
            .scalars()}
        held = [Commitment(site.factory, site.partition, site.gpu_hours_committed,
                           site.committed_from, a.end_on) for site, a in s.execute(
                select(AllocationSite, Allocation).join(
                    Allocation, Allocation.id == AllocationSite.allocation_id)).all()]
    if rows:
        expected = capacity.committed_weeks(held, key, min(rows), max(rows) + timedelta(days=6))
        for week, hours in rows.items():
            assert hours == pytest.approx(expected[week], abs=1e-6)
            assert hours <= gpus * 168 + 1e-6
    return rows


def test_concurrent_acceptances_never_over_commit_a_partition(app_client, make_person, database):
    """4 GPUs hold 672 GPU-hours a week; Playground asks 2,000 over two months (~226 a week),
    so exactly two of eight simultaneous submissions fit, whatever the interleaving."""
    _set_nodes(database, "local", "gpu", 1)
    people = [make_person(f"p{i}@lumen.example") for i in range(8)]
    drafts = []
    for i, person in enumerate(people):
        org_id = h.org(app_client, person, registration_id=f"KVK-1000000{i}")
        drafts.append((person, h.draft(app_client, person, org_id, "playground",
                                       start_on=_next_monday().isoformat())["id"]))

    def submit(pair):  # type: ignore[no-untyped-def]
        person, proposal_id = pair
        r = app_client.post(f"{API}/proposals/{proposal_id}/submit", headers=person.headers)
        return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(submit, drafts))
    assert {code for code, _ in results} == {200}
    states = sorted(body["state"] for _, body in results)
    assert states == ["accepted"] * 2 + ["rejected"] * 6
    refused = [body for _, body in results if body["state"] == "rejected"]
    assert all("capacity" in body["decision_reasons"] for body in refused)
    rows = _ledger_is_consistent(database, ("local", "gpu"), 4)
    with database.unit_of_work(readonly=True) as s:
        a = s.execute(select(Allocation)).scalars().first()
        days = (a.end_on - a.start_on).days + 1
    assert max(rows.values()) == pytest.approx(2 * 2000 * 7 / days)  # two full weeks' shares


def test_ledger_rows_are_created_once_then_only_locked(app_client, make_person, database):
    """The first acceptance on a partition creates its ledger rows for the window; a later
    one whose ranking saw them all only locks and updates them (rows are never deleted)."""
    monday = _next_monday().isoformat()
    people = [make_person(f"l{i}@lumen.example") for i in range(2)]
    orgs = [h.org(app_client, p, registration_id=f"KVK-3000000{i}")
            for i, p in enumerate(people)]
    inserts: list[int] = []

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO capacity_ledger"):
            inserts.append(len(params) if executemany else 1)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        h.accepted(app_client, people[0], orgs[0], start_on=monday)
        first = list(inserts)
        h.accepted(app_client, people[1], orgs[1], start_on=monday)
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    rows = _ledger_is_consistent(database, ("local", "gpu"), 4 * LOCAL_TEST_NODES)
    assert first and sum(first) == len(rows)  # one row per week of the window
    assert inserts == first  # the second acceptance inserted nothing
    assert all(hours > 0 for hours in rows.values())


def test_an_acceptance_that_loses_the_race_keeps_no_allocation(app_client, make_person,
                                                               database, monkeypatch):
    """The referral is ranked without a lock; when the partition filled up meanwhile, the
    re-check under lock refuses, the allocation written before the take goes again, and the
    proposal is rejected with the reason."""
    _set_nodes(database, "local", "gpu", 1)  # 4 GPUs: two Playground grants fill the window
    monday = _next_monday().isoformat()
    people = [make_person(f"r{i}@lumen.example") for i in range(3)]
    orgs = [h.org(app_client, p, registration_id=f"KVK-2000000{i}")
            for i, p in enumerate(people)]
    for person, org in zip(people[:2], orgs[:2], strict=True):
        h.accepted(app_client, person, org, start_on=monday)
    late = h.draft(app_client, people[2], orgs[2], "playground", start_on=monday)
    # What the ranking (and the capacity check) saw: an empty ledger, as if the two
    # acceptances committed after it looked.
    monkeypatch.setattr("fabriek.federation.ledger.committed", lambda *a, **k: {})

    decided = h.submit(app_client, people[2], late["id"], "rejected")

    assert "re-checked under lock" in decided["decision_reasons"], decided
    assert decided["allocation_ids"] == []
    with database.unit_of_work(readonly=True) as s:
        assert len(s.execute(select(Allocation)).scalars().all()) == 2
        assert len(s.execute(select(AllocationSite)).scalars().all()) == 2
    _ledger_is_consistent(database, ("local", "gpu"), 4)


def test_referral_explains_each_score_and_is_private(app_client, make_person):
    anna, bob = make_person("anna@lumen.example"), make_person("bob@delta.example")
    org_id = h.org(app_client, anna)
    proposal = h.draft(app_client, anna, org_id, "fast-lane", gpu_hours=40_000,
                       duration_months=3, sector="healthcare", languages=["nl", "en"])
    r = app_client.get(f"{API}/proposals/{proposal['id']}/referral", headers=anna.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sector"] == "health" and body["country"] == "NL"
    first = body["rankings"][0]
    assert first["rank"] == 1 and first["factory"] == "local" and first["eligible"]
    for ranking in body["rankings"]:
        assert ranking["score"] == pytest.approx(sum(t["points"] for t in ranking["terms"]))
        assert {t["name"] for t in ranking["terms"]} == {
            "capacity", "sector", "data", "hardware", "antenna", "language"}
    excluded = [x for x in body["rankings"] if not x["eligible"]]
    assert len(body["rankings"]) == 20 and len(excluded) == 19  # 19 AI Factories + local
    assert all(x["excluded_because"] for x in excluded)
    h.problem(app_client.get(f"{API}/proposals/{proposal['id']}/referral",
                             headers=bob.headers), 404, "not_found")


def test_officer_override_needs_a_reason_and_is_audited(app_client, make_person, officer,
                                                        database):
    with database.unit_of_work() as s:  # a second connected factory, ranked below `local`
        add_factory(s, "backup", number=99, languages=("sv", "en"),
                    gpu_model="A100-SXM4-40GB", gpu_memory_gb=40, gpus_per_node=8, nodes=8)
    anna = make_person("anna@lumen.example")
    reviewer = make_person("rita@review.example", Role.reviewer)
    org_id = h.org(app_client, anna)
    p = h.in_review(app_client, anna, org_id, gpu_model=None, gpu_memory_gb=None)
    review = h.assign(app_client, officer, p["id"], reviewer)
    h.review(app_client, reviewer, review["id"])
    decision = {"outcome": "accept", "reasons": "sound plan", "factory": "backup"}
    h.problem(app_client.post(f"{API}/proposals/{p['id']}/decision", json=decision,
                              headers=officer.headers), 422, "validation_failed")
    r = app_client.post(f"{API}/proposals/{p['id']}/decision", headers=officer.headers,
                        json={**decision, "override_reason": "the applicant's data is in Sweden"})
    assert r.status_code == 200, r.text
    allocation = app_client.get(f"{API}/allocations/{r.json()['allocation_ids'][0]}",
                                headers=officer.headers).json()
    assert (allocation["factory"], allocation["partition"]) == ("backup", "gpu")
    assert "data is in Sweden" in allocation["placement_reason"]
    assert allocation["sites"][0] == {"factory": "backup", "partition": "gpu",
                                      "gpu_hours_committed": 40_000.0, "home": True}
    assert {"factory": "local", "partition": "gpu", "gpu_hours_committed": 0.0,
            "home": False} in allocation["sites"]
    assert h.audit_actions(database, "allocation.referral-overridden") == 1
    _ledger_is_consistent(database, ("backup", "gpu"), 64)


def test_an_unknown_factory_is_refused_and_nothing_changes(app_client, make_person, officer,
                                                           database):
    anna = make_person("anna@lumen.example")
    reviewer = make_person("rita@review.example", Role.reviewer)
    p = h.in_review(app_client, anna, h.org(app_client, anna))
    review = h.assign(app_client, officer, p["id"], reviewer)
    h.review(app_client, reviewer, review["id"])
    before = h.row_counts(database)
    body = h.problem(app_client.post(f"{API}/proposals/{p['id']}/decision",
                                     headers=officer.headers, json={
        "outcome": "accept", "reasons": "fine plan", "factory": "atlantis",
        "override_reason": "because"}), 422, "validation_failed")
    assert "unknown factory 'atlantis'" in body["detail"]
    after = h.row_counts(database)
    assert after == before


# --- placement across sites ---------------------------------------------------------------------


@pytest.fixture
def two_sites(tmp_path: Path) -> Executors:
    """`local` runs real processes; `dead` is a Slurm site whose slurmrestd never answers."""
    local = LocalExecutor(tmp_path / "spool", gpu_slots=4, grace_seconds=0.5, time_scale=60)
    dead = SlurmExecutor(f"http://127.0.0.1:{free_port()}", "root", token="x",
                         scratch_dir=tmp_path / "slurm", use_cli_fallback=False)
    return Executors(
        by_partition={("local", "gpu"): local, ("dead", "gpu"): dead},
        partitions={("local", "gpu"): PartitionProfile("local", "gpu", "H100-SXM5-80GB", 80, 4, 1,
                                                       CapacityBasis.operator, ExecutorKind.local),
                    ("dead", "gpu"): PartitionProfile("dead", "gpu", "H100-SXM5-80GB", 80, 8, 4,
                                                      CapacityBasis.operator, ExecutorKind.slurm)})


@pytest.fixture
def client_two(database, access, two_sites, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with ch.api_with(database, access, two_sites, tmp_path) as c:
        yield c


def test_a_job_is_routed_around_a_factory_that_does_not_answer(client_two, two_sites, database,
                                                               access, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = ch.allocation(client_two, officer, anna, gpu_hours=50)
    with database.unit_of_work() as s:  # valid at both; `dead` is bigger, so placed there first
        s.add(AllocationSite(allocation_id=allocation_id, factory="dead", partition="gpu",
                             gpu_hours_committed=0.0, committed_from=date.today(),
                             home=False))
    first = client_two.post(f"{API}/jobs", json=ch.job(allocation_id), headers=anna.headers)
    assert first.status_code == 201, first.text
    assert (first.json()["factory"], first.json()["partition"]) == ("dead", "gpu")

    reconciler = Reconciler(database, two_sites, access, worker_id="w")
    reconciler.run_once()  # the probe finds `dead` silent; the job moves to `local`
    with database.unit_of_work(readonly=True) as s:
        health = s.get(SiteHealth, ("dead", "gpu"))
        assert health is not None and not health.reachable
        job = s.get(Job, first.json()["id"])
        assert (job.factory, job.partition) == ("local", "gpu")
    assert h.audit_actions(database, "job.rerouted") == 1
    done = ch.until(reconciler, client_two, anna, first.json()["id"],
                    lambda j: j["state"] == "completed")
    assert done["factory"] == "local"

    second = client_two.post(f"{API}/jobs", json=ch.job(allocation_id, name="train-2"),
                             headers=anna.headers)
    assert second.status_code == 201 and second.json()["factory"] == "local"


# --- moving and splitting -----------------------------------------------------------------------


def _future(rows: dict[date, float]) -> dict[date, float]:
    this_week = capacity.week_of(date.today())
    return {w: round(h, 6) for w, h in rows.items() if w > this_week and round(h, 6)}


def test_an_officer_moves_and_splits_an_allocation(app_client, make_person, officer, database):
    with database.unit_of_work() as s:
        add_factory(s, "backup", number=99, gpus_per_node=8, nodes=8)
    anna = make_person("anna@lumen.example")
    allocation_id = ch.allocation(app_client, officer, anna, gpu_hours=3000)  # home: local
    before_local = _future(_ledger_is_consistent(database, ("local", "gpu"), 256))
    assert before_local

    r = app_client.put(f"{API}/allocations/{allocation_id}/sites", headers=officer.headers,
                       json={"reason": "local machine is being decommissioned", "sites": [
                           {"factory": "backup", "partition": "gpu", "gpu_hours": 2000},
                           {"factory": "local", "partition": "gpu", "gpu_hours": 1000}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["factory"], body["partition"]) == ("backup", "gpu")
    assert [(x["factory"], x["home"]) for x in body["sites"]] == [("backup", True),
                                                                  ("local", False)]
    assert "decommissioned" in body["placement_reason"]
    local_now = _future(_ledger_is_consistent(database, ("local", "gpu"), 256))
    backup_now = _future(_ledger_is_consistent(database, ("backup", "gpu"), 64))
    for week, hours in before_local.items():  # from next week on: a third stays, two go
        assert local_now[week] == pytest.approx(hours / 3)
        assert backup_now[week] == pytest.approx(2 * hours / 3)
    assert h.audit_actions(database, "allocation.sites-changed") == 1


def test_a_move_without_room_or_with_bad_shares_changes_nothing(app_client, make_person,
                                                                officer, database):
    with database.unit_of_work() as s:
        add_factory(s, "tiny", number=98, gpus_per_node=1, nodes=1)  # 168 GPU-hours a week
    anna = make_person("anna@lumen.example")
    allocation_id = ch.allocation(app_client, officer, anna, gpu_hours=3000)
    bob = make_person("bob@delta.example")
    before = h.row_counts(database)
    ledger_before = _ledger_is_consistent(database, ("local", "gpu"), 256)
    url = f"{API}/allocations/{allocation_id}/sites"
    cases = [
        ({"factory": "tiny", "partition": "gpu", "gpu_hours": 3000}, 422, "policy_refusal",
         "cannot hold"),
        ({"factory": "local", "partition": "gpu", "gpu_hours": 2999}, 422, "validation_failed",
         "add up to 2,999"),
        ({"factory": "atlantis", "partition": "gpu", "gpu_hours": 3000}, 422,
         "validation_failed", "unknown partition atlantis/gpu"),
        ({"factory": "lumi", "partition": "gpu", "gpu_hours": 3000}, 422, "validation_failed",
         "unknown partition lumi/gpu"),
    ]
    for site, status, code, text in cases:
        body = h.problem(app_client.put(url, headers=officer.headers, json={
            "reason": "try", "sites": [site]}), status, code)
        assert text in body["detail"], body
    h.problem(app_client.put(url, headers=anna.headers, json={
        "reason": "mine", "sites": [{"factory": "local", "partition": "gpu",
                                     "gpu_hours": 3000}]}), 403, "forbidden")
    h.problem(app_client.put(url, headers=bob.headers, json={
        "reason": "theirs", "sites": [{"factory": "local", "partition": "gpu",
                                       "gpu_hours": 3000}]}), 404, "not_found")
    assert h.row_counts(database) == before
    assert _ledger_is_consistent(database, ("local", "gpu"), 256) == ledger_before
