"""Portal page render times with a large programme in the database.

Seeds a fresh SQLite database (or --database-url) with --proposals proposals (default 10,000)
from --organisations organisations and --jobs jobs (default 100,000) on the accepted ones'
allocations, written with bulk inserts, then renders the heaviest pages in-process (the ASGI
app through Starlette's test client, so the figure is the server's time: routing, queries,
templates) --requests times each and prints p50/p99 per page. The sign-in page, which touches
no programme data, is the baseline in the same run.

Target (issue #6): p99 under 300 ms on SQLite for the dashboard and the officer queue. The
dashboard's figures are computed once a minute (FABRIEK_OBSERVATORY_CACHE_SECONDS) and served
from that cache; "dashboard, no cache" times the page with the cache off, every request
aggregating every job.

    .venv/bin/python benchmarks/portal.py
    .venv/bin/python benchmarks/portal.py --proposals 10000 --jobs 100000 --requests 50 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from fabriek.access.enums import EthicsCommitment, ProposalState
from fabriek.access.models import Allocation, Proposal
from fabriek.api.app import create_app
from fabriek.compute.enums import JobState
from fabriek.compute.models import Job
from fabriek.db import migrate
from fabriek.db.session import Database
from fabriek.federation.models import Partition
from fabriek.identity import web as identity_web
from fabriek.identity.enums import MembershipRole, OrganisationKind, Role
from fabriek.identity.models import Membership, Organisation, User, UserRole
from fabriek.settings import Settings

COUNTRIES = ["NL", "DE", "FR", "IT", "ES", "FI", "SE", "PL", "PT", "AT", "BE", "IE", "NO", "CH",
             "GR", "CZ", "DK", "LU", "SI", "BG"]
SECTORS = ["health", "manufacturing", "climate", "mobility", "finance", "language", "energy",
           "agriculture", "public-sector", "education"]
MODES = [("playground", 40, 0.35), ("fast-lane", 20_000, 0.35), ("large-scale", 150_000, 0.15),
         ("ai-for-science", 60_000, 0.12), ("strategic", 200_000, 0.02),
         ("emergency", 50_000, 0.01)]
STATES = [(ProposalState.accepted, 0.55), (ProposalState.accepted_reduced, 0.05),
          (ProposalState.rejected, 0.12), (ProposalState.in_review, 0.1),
          (ProposalState.submitted, 0.08), (ProposalState.draft, 0.07),
          (ProposalState.withdrawn, 0.03)]
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def _pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def seed(db: Database, *, organisations: int, proposals: int, jobs: int, seed: int = 7
         ) -> dict[str, int]:
    """Bulk-insert a programme's worth of rows; returns counts."""
    rng = random.Random(seed)
    with db.unit_of_work() as s:
        partitions = [(p.factory_id, p.id) for p in s.execute(select(Partition)).scalars()]
        users = [{"email": f"applicant{i}@org{i}.example", "display_name": f"Applicant {i}",
                  "is_active": True, "created_at": NOW} for i in range(organisations)]
        s.execute(insert(User), users)
        user_ids = list(s.execute(select(User.id).order_by(User.id)).scalars())
        s.execute(insert(UserRole), [{"user_id": u, "role": Role.applicant} for u in user_ids])
        orgs = []
        for i, uid in enumerate(user_ids):
            kind = _pick(rng, [(OrganisationKind.enterprise, 0.7), (OrganisationKind.research,
                               0.2), (OrganisationKind.public_authority, 0.1)])
            orgs.append({"legal_name": f"Organisation {i} B.V.", "country": rng.choice(COUNTRIES),
                         "registration_id": f"REG-{i:06d}", "kind": kind,
                         "founded_on": date(2015 + rng.randrange(11), 1 + rng.randrange(12), 1),
                         "headcount": rng.choice([3, 12, 40, 180, 900]),
                         "turnover_eur": rng.choice([200_000, 4_000_000, 30_000_000,
                                                     400_000_000]),
                         "balance_sheet_eur": rng.choice([100_000, 3_000_000, 20_000_000]),
                         "public_control": False, "created_by_id": uid, "vouched_by_id": uid,
                         "vouched_at": NOW, "created_at": NOW})
        s.execute(insert(Organisation), orgs)
        org_ids = list(s.execute(select(Organisation.id).order_by(Organisation.id)).scalars())
        s.execute(insert(Membership), [{"user_id": u, "organisation_id": o,
                                        "role": MembershipRole.admin, "created_at": NOW}
                                       for u, o in zip(user_ids, org_ids, strict=True)])
        rows = []
        for i in range(proposals):
            k = rng.randrange(len(org_ids))
            mode, typical, _ = _pick(rng, [(m, m[2]) for m in MODES])
            state = _pick(rng, STATES)
            submitted = NOW - timedelta(days=rng.uniform(1, 700))
            decided = state in (ProposalState.accepted, ProposalState.accepted_reduced,
                                ProposalState.rejected)
            rows.append({
                "reference": None if state is ProposalState.draft else f"B-{i:06d}",
                "organisation_id": org_ids[k], "created_by_id": user_ids[k], "mode": mode,
                "state": state, "title": f"Proposal {i}: models for {rng.choice(SECTORS)}",
                "abstract": "Training and evaluating models. " * 8,
                "sector": rng.choice(SECTORS),
                "gpu_hours": max(1, int(typical * rng.uniform(0.3, 1.0))),
                "duration_months": rng.choice([1, 3, 6, 12]),
                "start_on": (submitted + timedelta(days=14)).date(), "datasets": [],
                "languages": ["en"], "intended_system": "A model.", "inference_share": 0.0,
                "civilian_use": True, "confidential": rng.random() < 0.1,
                "ethics_commitment": EthicsCommitment.ai_pact, "ethics_signed_by": "x",
                "ethics_signed_at": submitted,
                "submitted_at": None if state is ProposalState.draft else submitted,
                "decided_at": submitted + timedelta(days=rng.uniform(0.01, 40))
                if decided else None,
                "decision_reasons": "", "policy_versions": {}, "storage_tb": 0.0,
                "created_at": submitted})
        s.execute(insert(Proposal), rows)
        accepted = s.execute(select(Proposal.id, Proposal.organisation_id, Proposal.gpu_hours,
                                    Proposal.start_on, Proposal.decided_at).where(
            Proposal.state.in_([ProposalState.accepted, ProposalState.accepted_reduced]))).all()
        allocations = []
        for p in accepted:
            factory, partition = rng.choice(partitions)
            allocations.append({
                "proposal_id": p.id, "organisation_id": p.organisation_id, "factory": factory,
                "partition": partition, "gpu_hours": p.gpu_hours, "gpu_hours_used": 0.0,
                "storage_tb": 0.0, "start_on": p.start_on,
                "end_on": p.start_on + timedelta(days=90), "priority_class": "standard",
                "state": "active", "placement_reason": "referral", "created_at": p.decided_at})
        s.execute(insert(Allocation), allocations)
        allocs = s.execute(select(Allocation.id, Allocation.organisation_id, Allocation.factory,
                                  Allocation.partition, Allocation.created_at)).all()
        owner = dict(zip(org_ids, user_ids, strict=True))
        batch: list[dict[str, Any]] = []
        for j in range(jobs):
            a = allocs[rng.randrange(len(allocs))]
            queued = a.created_at + timedelta(hours=rng.uniform(1, 2000))
            started = queued + timedelta(minutes=rng.expovariate(1 / 30))
            hours = rng.uniform(0.1, 12)
            gpus = rng.choice([1, 1, 2, 4, 8])
            state = _pick(rng, [(JobState.completed, 0.8), (JobState.failed, 0.08),
                                (JobState.cancelled, 0.04), (JobState.running, 0.05),
                                (JobState.queued, 0.03)])
            done = state not in (JobState.running, JobState.queued)
            batch.append({
                "organisation_id": a.organisation_id, "owner_id": owner[a.organisation_id],
                "allocation_id": a.id, "name": f"job-{j}", "spec": {"script": "echo hi"},
                "gpus": gpus, "time_limit_minutes": 720, "model": f"model-{a.id % 300}",
                "factory": a.factory, "partition": a.partition, "executor": "slurm",
                "priority_class": "standard", "priority_rank": 1, "state": state,
                "reason": "", "submit_attempts": 1, "queued_at": queued,
                "started_at": None if state is JobState.queued else started,
                "ended_at": started + timedelta(hours=hours) if done else None,
                "exit_code": 0 if state is JobState.completed else None,
                "gpu_hours_prior": 0.0,
                "gpu_hours_used": gpus * hours if state is not JobState.queued else 0.0,
                "preemptions": 0, "cancel_requested": False, "created_at": queued})
            if len(batch) == 10_000:
                s.execute(insert(Job), batch)
                batch = []
        if batch:
            s.execute(insert(Job), batch)
    return {"organisations": organisations, "proposals": proposals,
            "allocations": len(allocations), "jobs": jobs}


def _officer_client(app: Any, db: Database) -> TestClient:
    """A browser signed in as an access officer (a session row, as after signing in)."""
    from fabriek.identity.principal import SYSTEM
    from fabriek.identity.service import create_user
    from fabriek.portal.web import SESSION_COOKIE

    with db.unit_of_work() as s:
        user = create_user(s, SYSTEM, email="officer@bench.example",
                           roles=[Role.access_officer, Role.reviewer])
        token = identity_web.start_session(s, user, method="password", hours=1)
    client = TestClient(app, base_url="https://testserver")
    client.__enter__()
    client.cookies.set(SESSION_COOKIE, token)
    return client


def time_pages(client: TestClient, paths: dict[str, str], requests: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in paths.items():
        first = client.get(path)
        if first.status_code != 200:
            out[name] = {"path": path, "status": first.status_code}
            continue
        samples = []
        for _ in range(requests):
            t = time.perf_counter()
            r = client.get(path)
            samples.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (path, r.status_code)
        samples.sort()
        out[name] = {"path": path, "p50_ms": round(statistics.median(samples), 1),
                     "p99_ms": round(samples[min(len(samples) - 1,
                                                 int(0.99 * len(samples)))], 1),
                     "bytes": len(first.content)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--organisations", type=int, default=1_000)
    ap.add_argument("--proposals", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url, reconciler=False)
        from fabriek.cli.inprocess import seed_catalogue

        db = Database(settings)
        migrate.upgrade(db.engine)
        seed_catalogue(db, settings)
        t = time.perf_counter()
        counts = seed(db, organisations=args.organisations, proposals=args.proposals,
                      jobs=args.jobs)
        seeded_s = time.perf_counter() - t
        app = create_app(settings, database=db, run_reconciler=False)
        with TestClient(app, base_url="https://testserver") as anonymous:
            pages = time_pages(anonymous, {"baseline: sign-in": "/sign-in",
                                           "dashboard": "/dashboard"}, args.requests)
        # The same page with the figures' cache off: every request aggregates every job.
        uncached = create_app(settings.model_copy(update={"observatory_cache_seconds": 0}),
                              database=db, run_reconciler=False)
        with TestClient(uncached, base_url="https://testserver") as anonymous:
            pages |= time_pages(anonymous, {"dashboard, no cache": "/dashboard"},
                                max(5, args.requests // 5))
        client = _officer_client(app, db)
        pages |= time_pages(client, {"officer queue": "/officer",
                                     "officer queue, in review": "/officer?state=in-review"},
                            args.requests)
        client.__exit__(None, None, None)
        db.dispose()
    result = {"backend": "postgresql" if args.database_url else "sqlite", "seeded": counts,
              "seed_seconds": round(seeded_s, 1), "requests_per_page": args.requests,
              "pages": pages, "python": platform.python_version(), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"seeded {counts} in {seeded_s:.1f} s ({result['backend']})")
    base = pages["baseline: sign-in"].get("p50_ms")
    for name, p in pages.items():
        if "p50_ms" not in p:
            print(f"{name:28} {p['path']:28} HTTP {p['status']}")
            continue
        ratio = f"{p['p50_ms'] / base:6.1f}× baseline" if base else ""
        print(f"{name:28} {p['path']:28} p50 {p['p50_ms']:7.1f} ms  p99 {p['p99_ms']:7.1f} ms"
              f"  {p['bytes'] / 1024:6.0f} KiB  {ratio}")


if __name__ == "__main__":
    main()
