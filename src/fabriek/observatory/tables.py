"""Each figure set as one rectangular table: the CSV downloads, and the data table a page
shows beside its chart. Pure. The cells are the JSON's numbers unchanged, so a CSV and the
JSON it came from agree to the last digit.

CSV: RFC 4180 (the stdlib csv module, CRLF line ends), a header row, empty cells for
nothing. A text cell starting with = + - @ or a tab is prefixed with an apostrophe, so a
spreadsheet shows a model or organisation name instead of running it as a formula (OWASP
"CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from fabriek.observatory.schemas import (
    AiActModels,
    FactoryLoads,
    GpuHours,
    HoursGroupRead,
    StartupShareRead,
    TimeToFirstJob,
)

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


class FigureSet(StrEnum):
    """The figure sets, by the name the API and the CLI use for them."""

    time_to_first_job = "time-to-first-job"
    gpu_hours = "gpu-hours"
    factories = "factories"
    startup_share = "startup-share"
    ai_act_models = "ai-act-models"


def N_(message: str) -> str:
    """Marks a string for the portal's catalogue (babel.cfg): a page shows the table's title
    and column headings translated; the CSV keeps the keys."""
    return message


F = FigureSet
FIGURE_SETS: dict[FigureSet, str] = {
    F.time_to_first_job: N_("Time from application to first running job, by access mode"),
    F.gpu_hours: N_("GPU-hours requested, allocated and used, by organisation type, country, "
                    "sector and factory"),
    F.factories: N_("Utilisation and queue waits per factory"),
    F.startup_share: N_("Share of allocated GPU-hours going to start-ups and SMEs"),
    F.ai_act_models: N_("Models past the AI Act compute thresholds"),
}
COLUMNS: dict[FigureSet, tuple[str, ...]] = {
    F.time_to_first_job: ("mode", "label", "started", "waiting", "median_hours", "p90_hours"),
    F.gpu_hours: ("dimension", "key", "label", "proposals", "requested_gpu_hours",
                  "allocated_gpu_hours", "used_gpu_hours"),
    F.factories: ("factory", "name", "gpus", "capacity_gpu_hours", "used_gpu_hours",
                  "utilisation", "jobs_started", "wait_median_hours", "wait_p90_hours",
                  "window_starts_at", "window_ends_at"),
    F.startup_share: ("allocated_gpu_hours", "startups_gpu_hours", "smes_gpu_hours",
                      "share_startups", "share_startups_and_smes"),
    F.ai_act_models: ("threshold", "model", "organisation", "flop", "basis"),
}


# What a person reads above each column of a page's table (the CSV's header keeps the keys).
COLUMN_LABELS: dict[str, str] = {
    "mode": N_("Mode"), "label": N_("Name"), "started": N_("Started"),
    "waiting": N_("Waiting"), "median_hours": N_("Median (hours)"),
    "p90_hours": N_("90th percentile (hours)"), "dimension": N_("By"), "key": N_("Key"),
    "proposals": N_("Proposals"), "requested_gpu_hours": N_("Requested GPU-hours"),
    "allocated_gpu_hours": N_("Allocated GPU-hours"), "used_gpu_hours": N_("Used GPU-hours"),
    "factory": N_("Factory"), "name": N_("Name"), "gpus": N_("GPUs"),
    "capacity_gpu_hours": N_("Capacity (GPU-hours)"), "utilisation": N_("Utilisation"),
    "jobs_started": N_("Jobs started"), "wait_median_hours": N_("Median wait (hours)"),
    "wait_p90_hours": N_("90th percentile wait (hours)"),
    "window_starts_at": N_("Window starts"), "window_ends_at": N_("Window ends"),
    "startups_gpu_hours": N_("Start-ups' GPU-hours"),
    "smes_gpu_hours": N_("SMEs' GPU-hours (not start-ups)"),
    "share_startups": N_("Share to start-ups"),
    "share_startups_and_smes": N_("Share to start-ups and SMEs"),
    "threshold": N_("Threshold (FLOP)"), "model": N_("Model"),
    "organisation": N_("Organisation"), "flop": N_("Training compute (FLOP)"),
    "basis": N_("Basis"),
}


def _table(name: FigureSet, rows: Sequence[tuple[Cell, ...]]) -> Table:
    return Table(name.value, FIGURE_SETS[name], COLUMNS[name], tuple(rows))


def time_to_first_job(f: TimeToFirstJob) -> Table:
    return _table(F.time_to_first_job, [
        (t.mode, t.label, t.started, t.waiting, t.median_hours, t.p90_hours) for t in f.modes])


def _hours_rows(dimension: str, groups: Sequence[HoursGroupRead]) -> list[tuple[Cell, ...]]:
    return [(dimension, g.key, g.label, g.proposals, g.requested_gpu_hours,
             g.allocated_gpu_hours, g.used_gpu_hours) for g in groups]


def gpu_hours(f: GpuHours) -> Table:
    return _table(F.gpu_hours, [
        *_hours_rows("total", [f.total]),
        *_hours_rows("organisation-type", f.by_organisation_type),
        *_hours_rows("country", f.by_country), *_hours_rows("sector", f.by_sector),
        *_hours_rows("factory", f.by_factory)])


def factories(f: FactoryLoads) -> Table:
    start, end = f.window.starts_at.isoformat(), f.window.ends_at.isoformat()
    return _table(F.factories, [
        (x.factory, x.name, x.gpus, x.capacity_gpu_hours, x.used_gpu_hours, x.utilisation,
         x.jobs_started, x.wait_median_hours, x.wait_p90_hours, start, end)
        for x in f.factories])


def startup_share(f: StartupShareRead) -> Table:
    return _table(F.startup_share, [
        (f.allocated_gpu_hours, f.startups_gpu_hours, f.smes_gpu_hours, f.share_startups,
         f.share_startups_and_smes)])


def ai_act_models(f: AiActModels) -> Table:
    return _table(F.ai_act_models, [
        (m.threshold, m.model, m.organisation, m.flop, m.basis) for m in f.models])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
    return str(value)  # repr of a float: reads back as the same float


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    return out.getvalue()


TABLES: dict[FigureSet, Any] = {
    F.time_to_first_job: time_to_first_job, F.gpu_hours: gpu_hours, F.factories: factories,
    F.startup_share: startup_share, F.ai_act_models: ai_act_models,
}


def table_of(name: FigureSet, figure: Any) -> Table:
    """The table of a figure set from that set's schema."""
    table: Table = TABLES[name](figure)
    return table
