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

# The charts' words are translated where they are drawn: a page passes its language's gettext
# (the portal's catalogue extracts this module's N_ strings, babel.cfg); the API draws English.
Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a string for the portal's catalogue; it is translated where it is drawn."""
    return message


def _english(message: str) -> str:
    return message


def time_to_first_job(f: TimeToFirstJob, t: Gettext = _english) -> str:
    modes = [m for m in f.modes if m.started or m.waiting]
    return c.grouped_bar_chart(
        [m.label for m in modes],
        [c.Series(t(N_("Median")), [m.median_hours for m in modes]),
         c.Series(t(N_("90th percentile")), [m.p90_hours for m in modes])],
        chart_id="time-to-first-job", fmt=c.hours,
        title=t(N_("Time from application to first running job")),
        description=t(N_("Hours from submitting a proposal to its first job running, by "
                         "access mode; proposals still waiting are not included.")))


def _hours(groups: Sequence[HoursGroupRead], chart_id: str, title: str, description: str,
           t: Gettext) -> str:
    return c.grouped_bar_chart(
        [g.label for g in groups],
        [c.Series(t(N_("Requested")), [g.requested_gpu_hours for g in groups]),
         c.Series(t(N_("Allocated")), [g.allocated_gpu_hours for g in groups]),
         c.Series(t(N_("Used")), [g.used_gpu_hours for g in groups])],
        chart_id=chart_id, title=t(title), description=t(description))




def utilisation(f: FactoryLoads, t: Gettext = _english) -> str:
    return c.horizontal_bar_chart(
        [c.Bar(x.name, x.utilisation) for x in f.factories], chart_id="utilisation",
        fmt=c.percent, scale_max=1.0,
        title=t(N_("Utilisation over the last %(days)s days")) % {"days": f.window.days},
        description=t(N_("GPU-hours used as a share of the GPU-hours the factory's connected "
                         "partitions had in the window.")))


def queue_waits(f: FactoryLoads, t: Gettext = _english) -> str:
    return c.grouped_bar_chart(
        [x.name for x in f.factories],
        [c.Series(t(N_("Median")), [x.wait_median_hours for x in f.factories]),
         c.Series(t(N_("90th percentile")), [x.wait_p90_hours for x in f.factories])],
        chart_id="queue-waits", fmt=c.hours,
        title=t(N_("Queue waits over the last %(days)s days")) % {"days": f.window.days},
        description=t(N_("Hours from the scheduler taking a job to its first start, per "
                         "factory.")))


def startup_share(f: StartupShareRead, t: Gettext = _english) -> str:
    others = max(f.allocated_gpu_hours - f.startups_gpu_hours - f.smes_gpu_hours, 0.0)
    share = t(N_("no GPU-hours allocated yet")) if f.share_startups_and_smes is None else (
        t(N_("%(share)s to start-ups and SMEs"))
        % {"share": c.percent(f.share_startups_and_smes)})
    return c.grouped_bar_chart(
        [t(N_("Allocated GPU-hours"))],
        [c.Series(t(N_("Start-ups")), [f.startups_gpu_hours]),
         c.Series(t(N_("SMEs (not start-ups)")), [f.smes_gpu_hours]),
         c.Series(t(N_("Everyone else")), [others])],
        chart_id="startup-share", stacked=True,
        title=t(N_("Share of allocated GPU-hours going to start-ups and SMEs")),
        description=t(N_("Allocated GPU-hours by who received them: %(share)s."))
        % {"share": share})


def _superscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def ai_act_models(f: AiActModels, t: Gettext = _english) -> str:
    return c.horizontal_bar_chart(
        [c.Bar(f"10{_superscript(x.exponent)} FLOP", x.models) for x in f.thresholds],
        chart_id="ai-act-models", title=t(N_("Models past the AI Act compute thresholds")),
        description=t(N_("Models whose training compute on the platform is at or over each "
                         "threshold (10²³: indicative of a general-purpose AI model; 10²⁵: "
                         "presumed systemic risk).")))


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
    draw: Callable[[Any, Gettext], str]
    pick: Callable[[ObservatoryRead], Any]


N, F = ChartName, FigureSet


def _gpu_hours(attribute: str, key: str, title: str, description: str) -> Chart:
    """A GPU-hours chart by one dimension of the gpu-hours figure set."""
    def draw(f: GpuHours, t: Gettext = _english) -> str:
        return _hours(getattr(f, attribute), f"gpu-hours-by-{key}", title, description, t)

    return Chart(F.gpu_hours, draw, lambda o: o.gpu_hours)


CHARTS: dict[ChartName, Chart] = {
    N.time_to_first_job: Chart(F.time_to_first_job, time_to_first_job,
                               lambda o: o.time_to_first_job),
    N.gpu_hours_by_organisation_type: _gpu_hours(
        "by_organisation_type", "organisation-type", N_("GPU-hours by organisation type"),
        N_("GPU-hours requested, allocated and used, by organisation type.")),
    N.gpu_hours_by_country: _gpu_hours(
        "by_country", "country", N_("GPU-hours by country"),
        N_("GPU-hours requested, allocated and used, by country.")),
    N.gpu_hours_by_sector: _gpu_hours(
        "by_sector", "sector", N_("GPU-hours by sector"),
        N_("GPU-hours requested, allocated and used, by sector.")),
    N.gpu_hours_by_factory: _gpu_hours(
        "by_factory", "factory", N_("GPU-hours by factory"),
        N_("GPU-hours requested, allocated and used, by factory.")),
    N.utilisation: Chart(F.factories, utilisation, lambda o: o.factories),
    N.queue_waits: Chart(F.factories, queue_waits, lambda o: o.factories),
    N.startup_share: Chart(F.startup_share, startup_share, lambda o: o.startup_share),
    N.ai_act_models: Chart(F.ai_act_models, ai_act_models, lambda o: o.ai_act_models),
}


def render(name: ChartName | str, figure: Any, t: Gettext = _english) -> str:
    """One chart from its figure set (e.g. render("utilisation", figures.factories)), its
    words through `t` (a gettext; English by default)."""
    return CHARTS[ChartName(name)].draw(figure, t)


def all_charts(figures: ObservatoryRead, t: Gettext = _english) -> dict[str, str]:
    """Every chart of the dashboard, by name, as SVG to inline in the page."""
    return {name.value: chart.draw(chart.pick(figures), t) for name, chart in CHARTS.items()}
