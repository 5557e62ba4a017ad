"""The observatory: the programme's public figures (no token needed).

`GET /observatory` has every figure as JSON. Each figure set also has a resource of its own,
`GET /observatory/{set}` (JSON), the same numbers as CSV at `GET /observatory/{set}.csv`, and
every dashboard chart is an SVG image at `GET /observatory/charts/{chart}.svg`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from fabriek.api.deps import Access, ReadSession
from fabriek.observatory import dashboard, service, tables
from fabriek.observatory.dashboard import ChartName
from fabriek.observatory.schemas import (
    AiActModels,
    FactoryLoads,
    GpuHours,
    ObservatoryRead,
    StartupShareRead,
    TimeToFirstJob,
)
from fabriek.observatory.tables import FigureSet

router = APIRouter(prefix="/api/v1/observatory", tags=["observatory"])

Days = Annotated[int, Query(ge=1, le=366, description="The window of utilisation and queue "
                                                      "waits: this many days up to now.")]
CSV = "text/csv; charset=utf-8"
SVG = "image/svg+xml"
_COLUMNS = "\n".join(f"- `{name}.csv`: {', '.join(tables.COLUMNS[name])}" for name in FigureSet)


@router.get("", response_model=ObservatoryRead, summary="Every figure of the programme")
def figures(session: ReadSession, access: Access, days: Days = service.DEFAULT_DAYS
            ) -> ObservatoryRead:
    """Time to first job, GPU-hours by group, utilisation and queue waits, the share going to
    start-ups and SMEs, and models past the AI Act thresholds. Confidential proposals are
    counted, never named."""
    return service.observatory(session, access, days=days)


@router.get("/time-to-first-job", response_model=TimeToFirstJob,
            summary=tables.FIGURE_SETS[FigureSet.time_to_first_job])
def time_to_first_job(session: ReadSession, access: Access) -> TimeToFirstJob:
    return service.time_to_first_job(session, access)


@router.get("/gpu-hours", response_model=GpuHours,
            summary=tables.FIGURE_SETS[FigureSet.gpu_hours])
def gpu_hours(session: ReadSession, access: Access) -> GpuHours:
    return service.gpu_hours(session, access)


@router.get("/factories", response_model=FactoryLoads,
            summary=tables.FIGURE_SETS[FigureSet.factories])
def factories(session: ReadSession, days: Days = service.DEFAULT_DAYS) -> FactoryLoads:
    return service.factory_loads(session, days=days)


@router.get("/startup-share", response_model=StartupShareRead,
            summary=tables.FIGURE_SETS[FigureSet.startup_share])
def startup_share(session: ReadSession, access: Access) -> StartupShareRead:
    return service.startup_share(session, access)


@router.get("/ai-act-models", response_model=AiActModels,
            summary=tables.FIGURE_SETS[FigureSet.ai_act_models])
def ai_act_models(session: ReadSession) -> AiActModels:
    return service.ai_act_models(session)


@router.get("/{name}.csv", response_class=Response, summary="A figure set as CSV",
            description="The same numbers as `GET /api/v1/observatory/{name}`, as CSV (RFC "
                        "4180, UTF-8, a header row; empty cells for nothing). Columns:\n\n"
                        + _COLUMNS,
            responses={200: {"content": {CSV: {}}, "description": "CSV with a header row."}})
def figure_set_csv(name: Annotated[FigureSet, Path(description="The figure set.")],
                   session: ReadSession, access: Access,
                   days: Days = service.DEFAULT_DAYS) -> Response:
    figure = service.figure_set(session, access, name, days=days)
    return Response(tables.to_csv(tables.table_of(name, figure)), media_type=CSV, headers={
        "Content-Disposition": f'attachment; filename="fabriek-{name.value}.csv"'})


@router.get("/charts/{name}.svg", response_class=Response, summary="A dashboard chart as SVG",
            description="Drawn on the server, without JavaScript; `role=img` with a title and "
                        "a description that carries every value.",
            responses={200: {"content": {SVG: {}}, "description": "An SVG image."}})
def chart(name: Annotated[ChartName, Path(description="The chart.")], session: ReadSession,
          access: Access, days: Days = service.DEFAULT_DAYS) -> Response:
    figure_set = dashboard.CHARTS[name].figure_set
    figure = service.figure_set(session, access, figure_set, days=days)
    return Response(dashboard.render(name, figure), media_type=SVG)
