"""The public dashboard: the programme's figures as charts (server-side SVG, no JavaScript),
each with its data table and CSV, read from the same cached computation as the API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from fabriek.errors import BadRequest
from fabriek.observatory import dashboard, service, tables
from fabriek.observatory.tables import FigureSet
from fabriek.portal import web
from fabriek.portal.i18n import N_

router = APIRouter(include_in_schema=False)

# The dashboard's sections: a heading, what it shows, and its charts.
SECTIONS = (
    (FigureSet.time_to_first_job, N_("From application to first running job"),
     N_("Hours from submitting a proposal to its first job running, by access mode: median "
        "and 90th percentile. Proposals still waiting for a first job are counted apart."),
     ("time-to-first-job",)),
    (FigureSet.gpu_hours, N_("GPU-hours requested, allocated and used"),
     N_("By organisation type, country, sector and factory."),
     ("gpu-hours-by-organisation-type", "gpu-hours-by-country", "gpu-hours-by-sector",
      "gpu-hours-by-factory")),
    (FigureSet.factories, N_("Utilisation and queue waits per factory"),
     N_("GPU-hours used against the GPU-hours the factory's connected partitions had in the "
        "window, and how long jobs waited in the scheduler's queue."),
     ("utilisation", "queue-waits")),
    (FigureSet.startup_share, N_("Share going to start-ups and SMEs"),
     N_("Of all allocated GPU-hours."), ("startup-share",)),
    (FigureSet.ai_act_models, N_("Models past the AI Act compute thresholds"),
     N_("Training compute counted on the platform against 10^23 FLOP (indicative "
        "general-purpose threshold) and 10^25 FLOP (presumption of systemic risk, "
        "Art. 51(2)). Models of confidential proposals are not named."),
     ("ai-act-models",)),
)


@router.get("/dashboard")
def dashboard_page(request: Request, days: int = 30) -> Response:
    if days not in service.WINDOWS:
        raise BadRequest("the window is 7, 30, 90 or 365 days")
    figures = service.cached_figures(request.app.state, days)
    charts = dashboard.all_charts(figures, web.gettext(request))
    sections = []
    for figure_set, title, about, chart_names in SECTIONS:
        part = getattr(figures, figure_set.value.replace("-", "_"))
        sections.append({
            "id": figure_set.value, "title": title, "about": about,
            "charts": [Markup(charts[name]) for name in chart_names],
            "table": tables.table_of(figure_set, part),
            "csv": f"/api/v1/observatory/{figure_set.value}.csv",
        })
    return web.render(request, "dashboard.html", figures=figures, sections=sections,
                      days=days, windows=service.WINDOWS, column_labels=tables.COLUMN_LABELS)
