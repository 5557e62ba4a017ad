"""`fabriek simulate`: what-if capacity planning on a GPU job trace (no server needed).

Replays the trace through the same admission, priority and placement functions the broker
uses, over a simulated federation, next to a per-factory FCFS baseline, and prints both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fabriek.access.policy_files import AccessPolicy
from fabriek.cli import output as out
from fabriek.cli.options import JsonOpt
from fabriek.federation.simulation import (
    DEFAULT_GRACE_S,
    SimulationReport,
    Strategy,
    federation_for,
)
from fabriek.federation.simulation import simulate as run_simulation
from fabriek.federation.simulation.model import DEFAULT_SHARES, parse_shares
from fabriek.federation.simulation.report import WaitStats
from fabriek.federation.simulation.trace import bundled_trace, load_trace, replicate


def simulate(
    trace: Annotated[Path | None, typer.Option(
        "--trace", dir_okay=False, show_default=False,
        help="Philly-format CSV or `sacct -P` export, plain or .gz (default: the bundled "
             "15,000-job Philly trace).")] = None,
    load: Annotated[float, typer.Option(
        "--load", min=0.01, max=10,
        help="Size the federation so the trace's offered GPU-hours in the window are this "
             "share of its capacity.")] = 0.85,
    gpus: Annotated[int | None, typer.Option(
        "--gpus", min=8, show_default=False, help="Use this many GPUs instead of --load.")] = None,
    factories: Annotated[int, typer.Option(
        "--factories", min=1, max=64, help="Factories the GPUs are spread over.")] = 6,
    window_from: Annotated[float, typer.Option(
        "--window-from", min=0, max=0.99,
        help="Start the load/utilisation window at this quantile of submissions "
             "(0: the first; 0.05 skips a sparse lead-in).")] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of organisation types and home "
                                                     "factories.")] = 0,
    shares: Annotated[str | None, typer.Option(
        "--shares", show_default=False,
        help="Organisation-type shares, e.g. startup=0.3,sme=0.2,research=0.3,"
             "large-enterprise=0.1,public-authority=0.1 (default: "
             + ",".join(f"{k}={v}" for k, v in DEFAULT_SHARES.items()) + ").")] = None,
    limit_factor: Annotated[float, typer.Option(
        "--limit-factor", min=1, help="Time limit = trace duration × this.")] = 1.0,
    budget_factor: Annotated[float, typer.Option(
        "--budget-factor", min=0.001,
        help="Each allocation = this × its user's worst-case trace work; below 1, admission "
             "refuses jobs.")] = 1.0,
    grace_hours: Annotated[float, typer.Option(
        "--grace-hours", min=0,
        help="A job counts as placed if it starts by the last submission plus this.")]
    = DEFAULT_GRACE_S / 3600,
    copies: Annotated[int, typer.Option(
        "--replicate", min=1, max=1000,
        help="Repeat the trace this many times, one after the other (throughput runs); the "
             "federation is sized on one copy.")] = 1,
    no_mode_caps: Annotated[bool, typer.Option(
        "--no-mode-caps", help="Keep users in their type's mode even above its GPU-hour "
                               "cap (Fast Lane: 50,000).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replay a GPU job trace over a simulated federation: the placement policy versus a
    per-factory first-come-first-served baseline with backfill.

    Examples:

      fabriek simulate

      fabriek simulate --trace jobs.sacct.gz --gpus 2048 --factories 4 --json

      fabriek simulate --load 0.85 --window-from 0.05 --shares startup=0.4,sme=0.2,research=0.4
    """
    path = trace or bundled_trace()
    jobs, _ = load_trace(path)
    partitions = federation_for(jobs, load=load, gpus=gpus, factories=factories,
                                window_from=window_from)
    jobs = replicate(jobs, copies)
    modes = AccessPolicy.load().modes
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        tasks = {s: progress.add_task(str(s), total=len(jobs)) for s in Strategy}
        report = run_simulation(
            jobs, partitions, modes, seed=seed,
            shares=parse_shares(shares) if shares else DEFAULT_SHARES,
            limit_factor=limit_factor, budget_factor=budget_factor,
            grace_s=round(grace_hours * 3600), window_from=window_from,
            mode_caps=not no_mode_caps,
            progress=lambda s, done: progress.update(tasks[s], completed=done))
    out.emit({"trace": str(path), **_as_dict(report)}, as_json, lambda r: _render(report, path))


def _as_dict(report: SimulationReport) -> dict:
    return to_jsonable_python(report)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _h(x: float | None) -> str:
    return "—" if x is None else f"{x:,.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}"


def _waits(title: str, policy: tuple[WaitStats, ...], baseline: tuple[WaitStats, ...]):
    base = {w.group: w for w in baseline}
    rows = []
    for w in policy:
        b = base.get(w.group)
        rows.append((w.group, w.jobs, _h(w.mean_wait_h), _h(w.p95_wait_h),
                     _h(b.mean_wait_h if b else None), _h(b.p95_wait_h if b else None),
                     _ratio(w.mean_wait_h, b.mean_wait_h if b else None)))
    return out.table(f"{title} (hours)", ["group", "jobs", "policy mean", "policy p95",
                                          "base mean", "base p95", "mean ÷ base"],
                     rows, nowrap=["group"])


def _render(report: SimulationReport, path: Path) -> None:
    p, b = report.policy, report.baseline
    sizes = ", ".join(f"{x.factory_id}/{x.id} {x.gpus}" for x in report.partitions)
    out.show(out.fields("What-if capacity plan", [
        ("trace", path.name), ("jobs", report.jobs), ("users", report.users),
        ("users by mode", ", ".join(f"{k} {v}" for k, v in report.users_by_mode.items())),
        ("window", f"{report.window_start_h:,.1f} h → {report.window_end_h:,.1f} h"),
        ("offered GPU-hours", f"{report.offered_gpu_hours:,.0f} in all, "
                              f"{report.window_offered_gpu_hours:,.0f} in the window"),
        ("federation", f"{report.gpus:,} GPUs: {sizes}"),
        ("offered load", _pct(report.load)), ("seed", report.seed),
        ("horizon", f"{report.horizon_h:,.1f} h"),
    ]))

    def row(label: str, f) -> tuple[str, str, str]:
        return (label, f(p), f(b))

    rows: list[tuple[str, str, str]] = [
        row("GPU utilisation in the window", lambda r: _pct(r.utilisation)),
        row("offered GPU-hours placed", lambda r: _pct(r.placed_share)),
        row("offered GPU-hours refused", lambda r: _pct(r.refused_share)),
        row("jobs refused", lambda r: f"{r.refused_jobs:,}"),
        row("jobs still waiting at the horizon", lambda r: f"{r.waiting_at_horizon:,}"),
        row("decisions per second", lambda r: f"{r.decisions_per_s:,.0f}"),
    ]
    out.show(out.table("Policy versus baseline", ["", "policy", "baseline"], rows, nowrap=[""]))
    out.show(_waits("Queue wait by priority class", p.by_class, b.by_class))
    out.show(_waits("Queue wait by organisation type", p.by_org_type, b.by_org_type))

