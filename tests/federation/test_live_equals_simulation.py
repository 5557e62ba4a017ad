"""The simulator and the live broker make the same placement decisions on the same scenario.

Live: the API admits each job, the broker places it across its allocation's two sites (real
local executors of 8 and 4 GPUs) and the reconciler starts it before the next one comes.
Simulated: the same jobs, at the same moments, through `simulation.engine.place_sequence`.
Both call `federation.placement.rank_sites`; this checks they feed it the same picture.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fabriek.access.models import AllocationSite
from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.reconciler import Reconciler
from fabriek.compute.registry import Executors
from fabriek.federation.domain import CapacityBasis, ExecutorKind, PartitionProfile
from fabriek.federation.simulation.engine import place_sequence
from fabriek.federation.simulation.model import OrgType, SimPartition, SimUser
from fabriek.federation.simulation.trace import TraceJob
from tests.compute import helpers as ch

pytestmark = pytest.mark.integration
BIG, SMALL = ("local", "gpu"), ("second", "gpu")
# GPUs per job, submitted one after the other; each can start when it is submitted.
SCENARIO = [2, 4, 2, 2, 1, 1]


@pytest.fixture
def sites(tmp_path: Path) -> Executors:
    def local(name: str, gpus: int) -> LocalExecutor:
        return LocalExecutor(tmp_path / name, gpu_slots=gpus, grace_seconds=0.5)

    return Executors(
        by_partition={BIG: local("big", 8), SMALL: local("small", 4)},
        partitions={BIG: PartitionProfile(*BIG, "H100-SXM5-80GB", 80, 8, 1,
                                          CapacityBasis.operator, ExecutorKind.local),
                    SMALL: PartitionProfile(*SMALL, "H100-SXM5-80GB", 80, 4, 1,
                                            CapacityBasis.operator, ExecutorKind.local)})


@pytest.fixture
def client(database, access, sites, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with ch.api_with(database, access, sites, tmp_path) as c:
        yield c


def test_live_broker_and_simulator_place_the_same_jobs_on_the_same_sites(
        client, sites, database, access, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = ch.allocation(client, officer, anna, gpu_hours=500)
    with database.unit_of_work() as s:  # valid at both sites; home (BIG) listed first
        s.add(AllocationSite(allocation_id=allocation_id, factory=SMALL[0], partition=SMALL[1],
                             gpu_hours_committed=0.0, committed_from=date.today(),
                             home=False))
    reconciler = Reconciler(database, sites, access, worker_id="w")
    live = []
    try:
        for i, gpus in enumerate(SCENARIO):
            r = client.post("/api/v1/jobs", headers=anna.headers, json=ch.job(
                allocation_id, name=f"j{i}", gpus=gpus, time_limit_minutes=60,
                command=["sleep", "120"]))
            assert r.status_code == 201, r.text
            job = ch.until(reconciler, client, anna, r.json()["id"],
                           lambda j: j["state"] == "running")
            live.append((job["factory"], job["partition"]))
    finally:
        for j in client.get("/api/v1/jobs", headers=anna.headers).json()["items"]:
            client.post(f"/api/v1/jobs/{j['id']}/cancel", headers=anna.headers)
        reconciler.run_once()

    rank = access.policy.modes.priority("strategic").rank
    user = SimUser("anna", OrgType.startup, "strategic", "strategic", rank, 500.0, BIG[0])
    simulated = place_sequence(
        [(TraceJob(f"j{i}", "anna", i, 3600, gpus, 1), i) for i, gpus in enumerate(SCENARIO)],
        {"anna": user},
        [SimPartition(*BIG, 8, 8), SimPartition(*SMALL, 4, 4)])
    assert [site for site, _ in simulated] == live
    assert live == [BIG, BIG, SMALL, BIG, SMALL, SMALL]  # most free GPUs, then home
