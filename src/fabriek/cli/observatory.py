"""`fabriek observatory`: the programme's public figures (no token needed), as tables or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.options import JsonOpt
from fabriek.observatory.schemas import HoursGroupRead, ObservatoryRead
from fabriek.observatory.tables import FigureSet

app = typer.Typer(help="The programme's public figures: time to first job, GPU-hours by group, "
                       "utilisation and queue waits, the start-up and SME share, models past "
                       "the AI Act thresholds.", no_args_is_help=True)

DaysOpt = Annotated[int | None, typer.Option(
    "--days", help="Window of utilisation and queue waits, in days up to now: 7, 30 (the "
                   "default), 90 or 365.")]


def _share(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f} %"


def _hours(title: str, groups: list[HoursGroupRead]) -> None:
    out.show(out.table(title, ["", "proposals", "requested", "allocated", "used"], [
        (g.label, g.proposals, g.requested_gpu_hours, g.allocated_gpu_hours, g.used_gpu_hours)
        for g in groups]))


def _render(o: ObservatoryRead) -> None:
    out.show(out.table("Time from application to first running job (hours)", [
        "access mode", "started", "waiting", "median", "p90"],
        [(t.label, t.started, t.waiting, t.median_hours, t.p90_hours)
         for t in o.time_to_first_job.modes]))
    g = o.gpu_hours
    _hours("GPU-hours by organisation type", [*g.by_organisation_type, g.total])
    _hours("GPU-hours by country", g.by_country)
    _hours("GPU-hours by sector", g.by_sector)
    _hours("GPU-hours by factory", g.by_factory)
    w = o.factories.window
    out.show(out.table(
        f"Utilisation (GPU-hours) and queue waits (hours), {w.starts_at:%Y-%m-%d} to "
        f"{w.ends_at:%Y-%m-%d} ({w.days} days)",
        ["factory", "GPUs", "capacity", "used", "use", "jobs", "wait p50", "wait p90"],
        [(f.name, f.gpus, f.capacity_gpu_hours, f.used_gpu_hours, _share(f.utilisation),
          f.jobs_started, f.wait_median_hours, f.wait_p90_hours)
         for f in o.factories.factories], nowrap=("GPUs", "use", "jobs")))
    s = o.startup_share
    out.show(out.table("Allocated GPU-hours going to start-ups and SMEs", [
        "allocated", "start-ups", "SMEs (not start-ups)", "share: start-ups",
        "share: start-ups and SMEs"],
        [(s.allocated_gpu_hours, s.startups_gpu_hours, s.smes_gpu_hours,
          _share(s.share_startups), _share(s.share_startups_and_smes))]))
    a = o.ai_act_models
    counts = "; ".join(f"10^{t.exponent} FLOP: {t.models}" for t in a.thresholds)
    out.show(out.table(f"Models past the AI Act thresholds ({counts})",
                       ["model", "organisation", "FLOP", "basis", "threshold"],
                       [(m.model, m.organisation, f"{m.flop:.3g}", m.basis, m.threshold)
                        for m in a.models]))
    out.note(f"Percentiles: {o.time_to_first_job.percentile_method}. Confidential proposals "
             "are counted, never named.")


def show(ctx: typer.Context, days: DaysOpt = None, json: JsonOpt = False) -> None:
    """Every figure of the programme, as tables. Public: no token needed.

    Example: fabriek observatory show --days 7
    """
    out.emit(client(ctx).observatory.figures(days=days), json, _render)


def csv(ctx: typer.Context,
        name: Annotated[FigureSet, typer.Argument(help="The figure set.")],
        days: DaysOpt = None,
        output: Annotated[Path | None, typer.Option(
            "--output", "-o", dir_okay=False, writable=True,
            help="Write the CSV to this file instead of standard output.")] = None) -> None:
    """One figure set as CSV, with a header row (the numbers of the API's JSON).

    Example: fabriek observatory csv gpu-hours -o gpu-hours.csv
    """
    text = client(ctx).observatory.csv(name.value, days=days)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8", newline="")  # keep the CSV's own CRLF
    out.success(f"{name.value}: {len(text.splitlines()) - 1} row(s) written to {output}")


app.command("show")(show)
app.command("csv")(csv)
