"""Replay the Philly trace: the placement policy versus the per-factory baseline.

1. Quality: the bundled 15,000-job Philly trace over a federation sized so the offered load is
   --load (default 0.85) of its capacity over the window; once with the window from the first
   submission (the literal definition) and once from the --window-from quantile (default 0.05,
   skipping the trace's sparse lead-in). Prints utilisation, the share of offered GPU-hours
   placed, and mean/p95 queue waits per priority class and organisation type, for both.
2. Throughput: the same federation (sized on one copy) replays the trace replicated --replicate
   times (default 20: 300,000 jobs). Prints policy decisions per second (one decision = one
   admission + placement), by wall time and by CPU time of the process.

Targets (issue #4): start-up/SME mean wait ≤ 1/5 of the baseline's, ≥ 95 % of offered
GPU-hours placed, ≥ 50,000 decisions/s.

    .venv/bin/python benchmarks/replay.py
    .venv/bin/python benchmarks/replay.py --load 0.85 --window-from 0.05 --replicate 20 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from pydantic_core import to_jsonable_python

from fabriek.access.policy_files import AccessPolicy
from fabriek.federation.simulation import SimulationReport, federation_for, simulate
from fabriek.federation.simulation.report import RunReport
from fabriek.federation.simulation.trace import bundled_trace, load_trace, replicate

FAST = ("startup", "sme")


def fast_lane_wait(run: RunReport) -> float | None:
    """Mean queue wait (h) of start-up and SME jobs together (weighted by jobs started)."""
    groups = [(w.mean_wait_h, w.started) for w in run.by_org_type
              if w.group in FAST and w.mean_wait_h is not None]
    started = sum(n for _, n in groups)
    return sum(m * n for m, n in groups) / started if started else None


def quality(report: SimulationReport, label: str) -> dict:
    p, b = report.policy, report.baseline
    fp, fb = fast_lane_wait(p), fast_lane_wait(b)
    ratio = fp / fb if fp is not None and fb else None
    print(f"\n## {label}: {report.gpus:,} GPUs in {len(report.partitions)} factories, window "
          f"{report.window_start_h:,.0f}–{report.window_end_h:,.0f} h, offered load "
          f"{100 * report.load:.1f} %, horizon {report.horizon_h:,.0f} h")
    print(f"{'':34}{'policy':>12}{'baseline':>12}")
    print(f"{'GPU utilisation in the window':34}{100 * p.utilisation:11.1f}%"
          f"{100 * b.utilisation:11.1f}%")
    print(f"{'offered GPU-hours placed':34}{100 * p.placed_share:11.1f}%"
          f"{100 * b.placed_share:11.1f}%")
    print(f"{'jobs waiting at the horizon':34}{p.waiting_at_horizon:12,}{b.waiting_at_horizon:12,}")
    print(f"{'start-up/SME mean wait (h)':34}{fp or 0:12.2f}{fb or 0:12.2f}   "
          f"ratio {ratio if ratio is not None else float('nan'):.3f} (target ≤ 0.2)")
    base = {w.group: w for w in (*b.by_class, *b.by_org_type)}
    print(f"{'wait (h): group':34}{'mean':>8}{'p95':>9} | {'base mean':>9}{'base p95':>9}")
    for w in (*p.by_class, *p.by_org_type):
        bw = base[w.group]
        print(f"  {w.group:32}{w.mean_wait_h or 0:8.2f}{w.p95_wait_h or 0:9.2f} | "
              f"{bw.mean_wait_h or 0:9.2f}{bw.p95_wait_h or 0:9.2f}")
    return {"label": label, "report": to_jsonable_python(report),
            "startup_sme_mean_wait_h": {"policy": fp, "baseline": fb, "ratio": ratio}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--load", type=float, default=0.85)
    ap.add_argument("--window-from", type=float, default=0.05)
    ap.add_argument("--factories", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--replicate", type=int, default=20)
    ap.add_argument("--json", action="store_true", help="Also print every figure as JSON.")
    args = ap.parse_args()

    modes = AccessPolicy.load().modes
    jobs, summary = load_trace(bundled_trace())
    print(f"# Philly replay: {summary.jobs:,} jobs, {summary.users} users, "
          f"{summary.offered_gpu_hours:,.0f} GPU-hours offered; python {platform.python_version()}"
          f", {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    results = []
    for window_from in dict.fromkeys((0.0, args.window_from)):
        parts = federation_for(jobs, load=args.load, factories=args.factories,
                               window_from=window_from)
        report = simulate(jobs, parts, modes, seed=args.seed, window_from=window_from)
        results.append(quality(report, f"load {args.load} from quantile {window_from}"))

    # Throughput: sized on one copy (busy-period sizing), replayed args.replicate times.
    parts = federation_for(jobs, load=args.load, factories=args.factories,
                           window_from=args.window_from)
    many = replicate(jobs, args.replicate)
    t0 = time.perf_counter()
    report = simulate(many, parts, modes, seed=args.seed, window_from=args.window_from)
    total = time.perf_counter() - t0
    p, b = report.policy, report.baseline
    print(f"\n## Throughput: {len(many):,} jobs ({args.replicate}× the trace), "
          f"{report.gpus:,} GPUs, simulate() {total:.1f} s in all")
    for run in (p, b):
        print(f"  {run.strategy:9} {run.decisions:,} decisions in {run.wall_s:.2f} s wall "
              f"({run.decisions / run.wall_s:,.0f}/s), {run.cpu_s:.2f} s CPU "
              f"({run.decisions / run.cpu_s:,.0f}/s); placed {100 * run.placed_share:.1f} %")
    print(f"  target ≥ 50,000 policy decisions/s: wall {p.decisions_per_s:,.0f}, CPU "
          f"{p.decisions / p.cpu_s:,.0f}; load average now {os.getloadavg()[0]:.2f}")
    if args.json:
        json.dump({"quality": results, "throughput": {
            "jobs": len(many), "gpus": report.gpus, "policy": to_jsonable_python(p),
            "baseline": to_jsonable_python(b)}}, sys.stdout, indent=2)
        print()


if __name__ == "__main__":
    main()
