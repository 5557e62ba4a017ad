"""The public dashboard's charts, drawn from the figures (fabriek.observatory.charts). Pure.

`CHARTS` names each chart, the figure set it is drawn from (fabriek.observatory.tables
FIGURE_SETS) and how; a page inlines `render(name, figure)` and shows the figure set's table
beside it as the data-table fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fabriek.observatory import charts as c
from fabriek.observatory.schemas import (
    AiActModels,
    FactoryLoads,
    GpuHours,
    HoursGroupRead,
    ObservatoryRead,
    StartupShareRead,
    TimeToFirstJob,
)
from fabriek.observatory.tables import FigureSet


def time_to_first_job(f: TimeToFirstJob) -> str:
    modes = [t for t in f.modes if t.started or t.waiting]
    return c.grouped_bar_chart(
        [t.label for t in modes],
        [c.Series("Median", [t.median_hours for t in modes]),
         c.Series("90th percentile", [t.p90_hours for t in modes])],
        chart_id="time-to-first-job", fmt=c.hours,
        title="Time from application to first running job",
        description="Hours from submitting a proposal to its first job running, by access "
                    "mode; proposals still waiting are not included.")


def _hours(groups: Sequence[HoursGroupRead], chart_id: str, by: str) -> str:
    return c.grouped_bar_chart(
        [g.label for g in groups],
        [c.Series("Requested", [g.requested_gpu_hours for g in groups]),
         c.Series("Allocated", [g.allocated_gpu_hours for g in groups]),
         c.Series("Used", [g.used_gpu_hours for g in groups])],
        chart_id=chart_id, title=f"GPU-hours by {by}",
        description=f"GPU-hours requested, allocated and used, by {by}.")


def _gpu_hours(attribute: str, key: str, by: str) -> Callable[[GpuHours], str]:
    def draw(f: GpuHours) -> str:
        return _hours(getattr(f, attribute), f"gpu-hours-by-{key}", by)

    return draw


def utilisation(f: FactoryLoads) -> str:
    return c.horizontal_bar_chart(
        [c.Bar(x.name, x.utilisation) for x in f.factories], chart_id="utilisation",
        fmt=c.percent, scale_max=1.0, title=f"Utilisation over the last {f.window.days} days",
        description="GPU-hours used as a share of the GPU-hours the factory's connected "
                    "partitions had in the window.")


def queue_waits(f: FactoryLoads) -> str:
    return c.grouped_bar_chart(
        [x.name for x in f.factories],
        [c.Series("Median", [x.wait_median_hours for x in f.factories]),
         c.Series("90th percentile", [x.wait_p90_hours for x in f.factories])],
        chart_id="queue-waits", fmt=c.hours,
        title=f"Queue waits over the last {f.window.days} days",
        description="Hours from the scheduler taking a job to its first start, per factory.")


def startup_share(f: StartupShareRead) -> str:
    others = max(f.allocated_gpu_hours - f.startups_gpu_hours - f.smes_gpu_hours, 0.0)
    share = "no GPU-hours allocated yet" if f.share_startups_and_smes is None else (
        f"{c.percent(f.share_startups_and_smes)} to start-ups and SMEs")
    return c.grouped_bar_chart(
        ["Allocated GPU-hours"],
        [c.Series("Start-ups", [f.startups_gpu_hours]),
         c.Series("SMEs (not start-ups)", [f.smes_gpu_hours]),
         c.Series("Everyone else", [others])],
        chart_id="startup-share", stacked=True,
        title="Share of allocated GPU-hours going to start-ups and SMEs",
        description=f"Allocated GPU-hours by who received them: {share}.")


def _superscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def ai_act_models(f: AiActModels) -> str:
    return c.horizontal_bar_chart(
        [c.Bar(f"10{_superscript(t.exponent)} FLOP", t.models) for t in f.thresholds],
        chart_id="ai-act-models", title="Models past the AI Act compute thresholds",
        description="Models whose training compute on the platform is at or over each "
                    "threshold (10²³: indicative of a general-purpose AI model; 10²⁵: "
                    "presumed systemic risk).")


class ChartName(StrEnum):
    time_to_first_job = "time-to-first-job"
    gpu_hours_by_organisation_type = "gpu-hours-by-organisation-type"
    gpu_hours_by_country = "gpu-hours-by-country"
    gpu_hours_by_sector = "gpu-hours-by-sector"
    gpu_hours_by_factory = "gpu-hours-by-factory"
    utilisation = "utilisation"
    queue_waits = "queue-waits"
    startup_share = "startup-share"
    ai_act_models = "ai-act-models"


@dataclass(frozen=True)
class Chart:
    figure_set: FigureSet
    draw: Callable[[Any], str]
    pick: Callable[[ObservatoryRead], Any]


N, F = ChartName, FigureSet
CHARTS: dict[ChartName, Chart] = {
    N.time_to_first_job: Chart(F.time_to_first_job, time_to_first_job,
                               lambda o: o.time_to_first_job),
    N.gpu_hours_by_organisation_type: Chart(
        F.gpu_hours, _gpu_hours("by_organisation_type", "organisation-type",
                                "organisation type"), lambda o: o.gpu_hours),
    N.gpu_hours_by_country: Chart(F.gpu_hours, _gpu_hours("by_country", "country", "country"),
                                  lambda o: o.gpu_hours),
    N.gpu_hours_by_sector: Chart(F.gpu_hours, _gpu_hours("by_sector", "sector", "sector"),
                                 lambda o: o.gpu_hours),
    N.gpu_hours_by_factory: Chart(F.gpu_hours, _gpu_hours("by_factory", "factory", "factory"),
                                  lambda o: o.gpu_hours),
    N.utilisation: Chart(F.factories, utilisation, lambda o: o.factories),
    N.queue_waits: Chart(F.factories, queue_waits, lambda o: o.factories),
    N.startup_share: Chart(F.startup_share, startup_share, lambda o: o.startup_share),
    N.ai_act_models: Chart(F.ai_act_models, ai_act_models, lambda o: o.ai_act_models),
}


def render(name: ChartName | str, figure: Any) -> str:
    """One chart from its figure set (e.g. render("utilisation", figures.factories))."""
    return CHARTS[ChartName(name)].draw(figure)


def all_charts(figures: ObservatoryRead) -> dict[str, str]:
    """Every chart of the dashboard, by name, as SVG to inline in the page."""
    return {name.value: chart.draw(chart.pick(figures)) for name, chart in CHARTS.items()}
