"""Jobs through the broker to an executor: jobs/s and submit-to-running latency.

Starts `fabriek serve` (with its reconciler) on a fresh SQLite data directory and a free
loopback port, bootstraps an access officer and an applicant in-process, gives the applicant's
start-up a strategic allocation, then:

1. submits N short jobs (`true`, 0 GPUs so they do not queue for the 4 GPU slots; or
   --gpus 1 to measure the ordered GPU queue) from C concurrent clients and reports the
   broker's admission rate (jobs/s accepted by POST /api/v1/jobs);
2. waits until every job has completed and reports submit-to-running latency (the job row's
   started_at, as the executor recorded it, minus its created_at) p50/p90/p99 and the
   end-to-end dispatch rate (jobs completed per second of wall time);
3. runs `fabriek demo --json` and reports its application-to-first-job-running time.

With --executor slurm it targets a factory partition run by the Slurm dev cluster
(scripts/slurm-dev-cluster.sh start must have run; its env file is read) instead.
Baseline in the same run: GET /api/v1/health rate at the same concurrency.

    .venv/bin/python benchmarks/dispatch.py --jobs 200 --clients 8
    .venv/bin/python benchmarks/dispatch.py --executor slurm --jobs 40 --clients 4
    .venv/bin/python benchmarks/dispatch.py --executor slurm --jobs 10 --sequential
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SLURM_ENV = Path("/run/fabriek-slurm/env")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def slurm_env() -> dict[str, str]:
    if not SLURM_ENV.exists():
        sys.exit(f"{SLURM_ENV} not found: run `bash scripts/slurm-dev-cluster.sh start` first")
    env = {}
    for line in SLURM_ENV.read_text().splitlines():
        line = line.strip().removeprefix("export ")
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value.strip("'\"")
    return env


def prepare(data_dir: Path, executor: str) -> dict[str, str]:
    """Environment for server and bootstrap: temp SQLite, and a Slurm factory if asked."""
    env = {**os.environ, "FABRIEK_DATA_DIR": str(data_dir), "FABRIEK_RECONCILE_INTERVAL_SECONDS":
           "0.2"}
    env.pop("FABRIEK_DATABASE_URL", None)
    if executor == "slurm":
        s = slurm_env()
        policy = data_dir / "policy"
        policy.mkdir()
        # The federation's only connected factory: the dev cluster (the referral places
        # every allocation there, and executors are built from it).
        (policy / "federation.yaml").write_text(
            "kind: federation\nversion: bench\nextra_factories:\n  - id: slurm-dev\n"
            "    name: Slurm dev cluster\n    kind: ai-factory\n    country: NL\n"
            "    partitions:\n      - {id: gpu, gpu_model: H100-SXM5-80GB, gpus_per_node: 4,"
            " nodes: 1, capacity_basis: published, capacity_note: dev cluster,"
            " executor: slurm}\n")
        env.update(FABRIEK_POLICY_DIR=str(policy), FABRIEK_SLURM_REST_URL=s["SLURM_REST_URL"],
                   FABRIEK_SLURM_USER=s.get("SLURM_REST_USER", "root"))
        if s.get("SLURM_JWT_KEY"):
            env["FABRIEK_SLURM_JWT_KEY"] = s["SLURM_JWT_KEY"]
        else:
            env["FABRIEK_SLURM_JWT"] = s["SLURM_JWT"]
    return env


def bootstrap(env: dict[str, str]) -> dict[str, str]:
    code = (
        "import json\n"
        "from fabriek.cli import inprocess\n"
        "from fabriek.identity.enums import Role\n"
        "from fabriek.settings import Settings\n"
        "o, a = inprocess.create_users(Settings(), [('officer@bench.example', 'O', "
        "[Role.access_officer]), ('anna@bench.example', 'A', [Role.applicant])], "
        "token_name='bench')\n"
        "print(json.dumps({'officer': o['token'], 'applicant': a['token']}))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def allocation(api: httpx.Client, tokens: dict[str, str], gpu_hours: int) -> int:
    def h(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}

    org = api.post("/api/v1/organisations?vouch=true", headers=h("applicant"), json={
        "legal_name": "Bench Vision B.V.", "country": "NL", "registration_id": "KVK-BENCH",
        "kind": "enterprise", "founded_on": (date.today() - timedelta(days=700)).isoformat(),
        "headcount": 12, "turnover_eur": "1200000", "balance_sheet_eur": "800000"})
    org.raise_for_status()
    r = api.post("/api/v1/allocations/direct", headers=h("officer"), json={
        "organisation_id": org.json()["id"], "mode": "strategic", "title": "Dispatch benchmark",
        "abstract": "Measuring the broker.", "sector": "research", "gpu_hours": gpu_hours,
        "duration_months": 1, "start_on": date.today().isoformat(),
        "intended_system": "None: benchmark jobs", "civilian_use": True,
        "ethics_commitment": "platform-declaration", "ethics_signed_by": "Bench",
        "reasons": "benchmark"})
    r.raise_for_status()
    return r.json()["allocation_ids"][0]


def rate(n: int, clients: int, fn: Any) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(fn, range(n)))
    return n / (time.perf_counter() - started), results


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="fabriek-dispatch-"))
    env = prepare(data_dir, args.executor)
    tokens = bootstrap(env)
    port = free_port()
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "fabriek", "serve", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as api:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if api.get("/api/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit(f"server did not start; see {data_dir / 'server.log'}")
                time.sleep(0.1)
            allocation_id = allocation(api, tokens, gpu_hours=1_000_000)
            headers = {"Authorization": f"Bearer {tokens['applicant']}"}
            health_rate, _ = rate(args.jobs, args.clients,
                                  lambda i: api.get("/api/v1/health").status_code)

            def submit(i: int) -> int:
                r = api.post("/api/v1/jobs", headers=headers, json={
                    "allocation_id": allocation_id, "name": f"bench-{i}", "gpus": args.gpus,
                    "memory_mb": args.memory_mb, "time_limit_minutes": 5,
                    "command": ["true"]})
                r.raise_for_status()
                return r.json()["id"]

            wall = time.perf_counter()
            if args.sequential:  # one job at a time on an idle scheduler: pure latency
                ids, started = [], time.perf_counter()
                for i in range(args.jobs):
                    ids.append(submit(i))
                    while api.get(f"/api/v1/jobs/{ids[-1]}", headers=headers).json()[
                            "state"] in ("pending-submit", "queued"):
                        time.sleep(0.05)
                submit_rate = args.jobs / (time.perf_counter() - started)
            else:
                submit_rate, ids = rate(args.jobs, args.clients, submit)
            deadline = time.monotonic() + args.timeout
            while True:
                count, after = 0, 0
                while True:
                    page = api.get("/api/v1/jobs", headers=headers,
                                   params={"limit": 200, "after": after}).json()
                    count += sum(1 for j in page["items"] if j["state"] in
                                 ("completed", "failed", "cancelled", "timeout"))
                    if page["next_after"] is None:
                        break
                    after = page["next_after"]
                if count >= len(ids) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - wall
            latencies, states = [], {}
            for job_id in ids:
                j = api.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
                states[j["state"]] = states.get(j["state"], 0) + 1
                if j["started_at"]:
                    latencies.append((parse_ts(j["started_at"]) - parse_ts(j["created_at"]))
                                     .total_seconds())
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    demo = None
    if args.executor == "local" and not args.skip_demo:
        out = subprocess.run([sys.executable, "-m", "fabriek", "demo", "--json"],
                             capture_output=True, text=True, timeout=300,
                             env={k: v for k, v in os.environ.items()
                                  if not k.startswith("FABRIEK_")})
        summary = json.loads(out.stdout)
        demo = {"ok": summary["ok"], "total_seconds": summary["seconds"],
                "application_to_first_job_running_seconds":
                    summary["application_to_first_job_running_seconds"]}
    return {
        "executor": args.executor, "jobs": args.jobs, "clients": args.clients,
        "sequential": args.sequential,
        "gpus_per_job": args.gpus, "cpus": os.cpu_count(),
        "baseline_health_per_s": round(health_rate, 1),
        "admitted_jobs_per_s": round(submit_rate, 1),
        "admission_vs_baseline": round(submit_rate / health_rate, 3),
        "completed_jobs_per_s_end_to_end": round(len(ids) / elapsed, 2),
        "final_states": states,
        "submit_to_running_seconds": {
            "p50": round(percentile(latencies, 50), 3), "p90": round(percentile(latencies, 90), 3),
            "p99": round(percentile(latencies, 99), 3),
            "mean": round(statistics.fmean(latencies), 3) if latencies else None},
        "demo": demo,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", choices=("local", "slurm"), default="local")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--memory-mb", type=int, default=256)
    parser.add_argument("--sequential", action="store_true",
                        help="Submit the next job only when the last one runs (idle latency).")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    demo = result["demo"]
    p50 = result["submit_to_running_seconds"]["p50"]
    if demo:
        first = demo["application_to_first_job_running_seconds"]
        print(f"target: demo application-to-first-job < 60 s: {first} s -> "
              f"{'met' if first is not None and first < 60 else 'MISSED'}")
    if args.executor == "slurm":
        print(f"target: p50 submit-to-running < 5 s on the idle Slurm dev cluster: {p50} s -> "
              f"{'met' if p50 < 5 else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
