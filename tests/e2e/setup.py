"""Set-up through the API that several browser scenarios build on."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from fabriek.cli.demo import DEMO_AI_ACT_ANSWERS
from fabriek.client import FabriekClient

FINAL = ("completed", "failed", "cancelled", "timeout")


def playground_allocation(fab: FabriekClient, *, legal_name: str, registration_id: str) -> int:
    """A vouched Dutch start-up of `fab`'s person, a minimal-risk Playground proposal accepted
    automatically: returns its allocation's id."""
    today = date.today()
    org = fab.organisations.register({
        "legal_name": legal_name, "country": "NL", "registration_id": registration_id,
        "kind": "enterprise", "founded_on": today.replace(year=today.year - 2, day=1),
        "headcount": 5, "turnover_eur": "100000", "balance_sheet_eur": "100000"}, vouch=True)
    draft = fab.proposals.create({
        "organisation_id": org.id, "mode": "playground", "title": f"{legal_name} first run",
        "abstract": "Runs a small job on the platform to try it out end to end.",
        "sector": "language", "gpu_hours": 100, "duration_months": 1, "start_on": today,
        "intended_system": "A research prototype; nothing is placed on the market.",
        "civilian_use": True, "ethics_commitment": "platform-declaration",
        "ethics_signed_by": legal_name})
    assessment = fab.request("POST", "/act/assessments", json={
        "organisation_id": org.id, "lang": "en", "answers": DEMO_AI_ACT_ANSWERS})
    fab.request("PUT", f"/proposals/{draft.id}/self-assessment",
                json={"assessment_id": assessment["id"]})
    decided = fab.proposals.submit(draft.id)
    assert decided.state.value == "accepted", decided
    allocation_id: int = decided.allocation_ids[0]
    return allocation_id


def run_to_the_end(fab: FabriekClient, spec: dict[str, Any], timeout: float = 60) -> Any:
    """Submit a job and wait until it is in a final state; returns the job."""
    job = fab.jobs.submit(spec)
    deadline = time.monotonic() + timeout
    while (job := fab.jobs.get(job.id)).state.value not in FINAL:
        assert time.monotonic() < deadline, f"job still {job.state.value}"
        time.sleep(0.2)
    return job
