"""`fabriek data run|runs|show-run`: the dataset services, with a progress bar while they run.

`register(group)` adds them to the catalogue's `fabriek data` group (cli/data.py).
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.options import JsonOpt, LimitOpt
from fabriek.datalab.run_models import ServiceName
from fabriek.datalab.run_schemas import RunRead


def _schema(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--schema") from None


def run(
    ctx: typer.Context,
    service: Annotated[ServiceName, typer.Argument(help="What to run.")],
    dataset: Annotated[str, typer.Argument(help="The dataset's slug.")],
    file: Annotated[int | None, typer.Option(
        "--file", help="The distribution's id (default: the newest CSV, JSON or Parquet file).")]
    = None,
    purpose: Annotated[str, typer.Option("--purpose", help="Why; goes into the read log.")] = "",
    schema: Annotated[Path | None, typer.Option(
        "--schema", exists=True, dir_okay=False,
        help="validate: a YAML or JSON file with `columns:` and their rules.")] = None,
    max_rows: Annotated[int | None, typer.Option(
        "--max-rows", min=1, help="detect-personal-data: scan only the first rows.")] = None,
    rows: Annotated[int | None, typer.Option("--rows", min=1,
                                             help="synthesize: rows to make.")] = None,
    fit_rows: Annotated[int | None, typer.Option(
        "--fit-rows", min=10, help="synthesize: rows sampled to learn from.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0)] = None,
    output_format: Annotated[str | None, typer.Option(
        "--format", help="synthesize: parquet (default) or csv.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait",
                                       help="Follow the run with a progress bar.")] = True,
    json: JsonOpt = False,
) -> None:
    """Run a service on a dataset's file: profile, validate, convert (to Parquet),
    detect-personal-data or synthesize. Profile, validate and detection need the right to
    read the data (a grant where the dataset needs one); convert and synthesize are for the
    dataset's stewards and add a file to it.

    Example: fabriek data run profile ai-factories
    """
    body: dict[str, Any] = {"distribution_id": file, "purpose": purpose, "max_rows": max_rows,
                            "rows": rows, "fit_rows": fit_rows, "seed": seed,
                            "output_format": output_format,
                            "expected_schema": _schema(schema) if schema else None}
    body = {k: v for k, v in body.items() if v not in (None, "")}
    api = client(ctx).datalab_services
    started = api.start(dataset, service.value, body)
    if not wait:
        out.emit(started, json, lambda r: out.success(
            f"service run {r.id} queued: follow it with `fabriek data show-run {r.id}`"))
        return
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=json or not console.is_terminal) as bar:
        task = bar.add_task(f"{service.value} {dataset}", total=1.0)
        finished = api.wait(started.id, on_progress=lambda r: bar.update(
            task, completed=r.progress, description=f"{service.value} {dataset}: {r.message}"))
    out.emit(finished, json, _render)
    if finished.state.value == "failed":
        raise typer.Exit(1)


def runs(ctx: typer.Context, dataset: Annotated[str, typer.Argument(help="The slug.")],
         limit: LimitOpt = 50, json: JsonOpt = False) -> None:
    """A dataset's service runs (all of them for its stewards, your own otherwise).

    Example: fabriek data runs ai-factories
    """
    found = client(ctx).datalab_services.list(dataset, limit=limit)
    out.emit(found, json, lambda rs: out.show(out.table(
        f"Service runs on {dataset}", ["id", "service", "state", "progress", "by", "asked"],
        [(r.id, r.service.value, out.state(r.state.value), f"{100 * r.progress:.0f} %",
          r.requested_by, r.created_at) for r in rs])))


def show_run(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="The run's id.")],
             json: JsonOpt = False) -> None:
    """One service run: its state and, once done, its result.

    Example: fabriek data show-run 12
    """
    out.emit(client(ctx).datalab_services.get(run_id), json, _render)


def register(group: typer.Typer) -> None:
    group.command("run")(run)
    group.command("runs")(runs)
    group.command("show-run")(show_run)


# --- rendering ------------------------------------------------------------------------------


def _render(r: RunRead) -> None:
    out.show(out.fields(f"Service run {r.id}: {r.service.value} on {r.dataset}", [
        ("state", out.state(r.state.value)), ("file", r.distribution_id),
        ("message", r.message), ("asked by", r.requested_by), ("error", r.error or None)]))
    if r.result is None:
        return
    result = r.result
    if r.service is ServiceName.profile:
        out.show(out.table(f"{result['rows']} rows", [
            "column", "kind", "present", "missing", "distinct≈", "min", "max", "mean / top"],
            [(c["name"], c["kind"], c["count"], c["missing"], c.get("distinct_approx"),
              c.get("min") if c.get("min") is not None else c.get("min_length"),
              c.get("max") if c.get("max") is not None else c.get("max_length"),
              c.get("mean") if c.get("mean") is not None else
              ", ".join(f"{t['value']} ({t['count']})" for t in c.get("top_values", [])))
             for c in result["columns"]]))
    elif r.service is ServiceName.validate:
        if result["valid"]:
            out.success(f"valid: {result['rows']} rows meet every rule")
        else:
            out.show(out.table(f"{len(result['violations'])} rules broken", [
                "column", "rule", "count", "examples"],
                [(v["column"], v["rule"], v["count"], "; ".join(
                    (f"row {e['row']}: " if e.get("row") else "") + jsonlib.dumps(e["value"])
                    for e in v["examples"])) for v in result["violations"]]))
    elif r.service is ServiceName.detect_personal_data:
        if not result["findings"]:
            out.success(f"no personal data found in {result['rows_scanned']} rows")
        else:
            out.show(out.table("Personal data found", [
                "column", "what", "count", "rows", "examples", "why"],
                [(f["column"], f["label"], f["count"],
                  ", ".join(map(str, f["rows"][:10])) + (" …" if len(f["rows"]) > 10 else ""),
                  ", ".join(f["examples"]), f["basis"]) for f in result["findings"]]))
    else:
        dist = result.get("distribution") or {}
        out.show(out.fields("New file", [
            ("distribution", dist.get("id")), ("name", dist.get("file_name")),
            ("rows", result.get("rows")), ("bytes", dist.get("byte_size")),
            ("sha256", dist.get("sha256")),
            ("not learned (placeholders)", ", ".join(result.get("replaced_columns", []))
             or None)]))
