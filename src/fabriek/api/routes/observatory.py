"""The observatory: the programme's public figures (no token needed).

`GET /observatory` has every figure as JSON. Each figure set also has a resource of its own,
`GET /observatory/{set}` (JSON), the same numbers as CSV at `GET /observatory/{set}.csv`, and
every dashboard chart is an SVG image at `GET /observatory/charts/{chart}.svg`.

All of them are cut from one computation of every figure per window, kept for
FABRIEK_OBSERVATORY_CACHE_SECONDS (fabriek.observatory.cache): public endpoints must not let
anyone make the database aggregate every job on each request. `generated_at` says when.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel

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


def _window(days: int) -> int:
    if days not in service.WINDOWS:
        raise ValueError("Input should be 7, 30, 90 or 365")
    return days


Days = Annotated[int, Query(
    description="The window of utilisation and queue waits: this many days up to now.",
    json_schema_extra={"enum": list(service.WINDOWS)}), AfterValidator(_window)]
CSV = "text/csv; charset=utf-8"
SVG = "image/svg+xml"
_COLUMNS = "\n".join(f"- `{name}.csv`: {', '.join(tables.COLUMNS[name])}" for name in FigureSet)


def _figures(request: Request, days: int) -> ObservatoryRead:
    return service.cached_figures(request.app.state, days)


def _figure_set(request: Request, name: FigureSet, days: int) -> BaseModel:
    figures = _figures(request, days)
    part: BaseModel = getattr(figures, name.value.replace("-", "_"))  # the field of that name
    return part


@router.get("", response_model=ObservatoryRead, summary="Every figure of the programme")
def figures(request: Request, days: Days = service.DEFAULT_DAYS) -> ObservatoryRead:
    """Time to first job, GPU-hours by group, utilisation and queue waits, the share going to
    start-ups and SMEs, and models past the AI Act thresholds. Confidential proposals are
    counted, never named."""
    return _figures(request, days)


@router.get("/time-to-first-job", response_model=TimeToFirstJob,
            summary=tables.FIGURE_SETS[FigureSet.time_to_first_job])
def time_to_first_job(request: Request) -> BaseModel:
    return _figure_set(request, FigureSet.time_to_first_job, service.DEFAULT_DAYS)


@router.get("/gpu-hours", response_model=GpuHours,
            summary=tables.FIGURE_SETS[FigureSet.gpu_hours])
def gpu_hours(request: Request) -> BaseModel:
    return _figure_set(request, FigureSet.gpu_hours, service.DEFAULT_DAYS)


@router.get("/factories", response_model=FactoryLoads,
            summary=tables.FIGURE_SETS[FigureSet.factories])
def factories(request: Request, days: Days = service.DEFAULT_DAYS) -> BaseModel:
    return _figure_set(request, FigureSet.factories, days)


@router.get("/startup-share", response_model=StartupShareRead,
            summary=tables.FIGURE_SETS[FigureSet.startup_share])
def startup_share(request: Request) -> BaseModel:
    return _figure_set(request, FigureSet.startup_share, service.DEFAULT_DAYS)


@router.get("/ai-act-models", response_model=AiActModels,
            summary=tables.FIGURE_SETS[FigureSet.ai_act_models])
def ai_act_models(request: Request) -> BaseModel:
    return _figure_set(request, FigureSet.ai_act_models, service.DEFAULT_DAYS)


@router.get("/{name}.csv", response_class=Response, summary="A figure set as CSV",
            description="The same numbers as `GET /api/v1/observatory/{name}`, as CSV (RFC "
                        "4180, UTF-8, a header row; empty cells for nothing). Columns:\n\n"
                        + _COLUMNS,
            responses={200: {"content": {CSV: {}}, "description": "CSV with a header row."}})
def figure_set_csv(name: Annotated[FigureSet, Path(description="The figure set.")],
                   request: Request, days: Days = service.DEFAULT_DAYS) -> Response:
    figure = _figure_set(request, name, days)
    return Response(tables.to_csv(tables.table_of(name, figure)), media_type=CSV, headers={
        "Content-Disposition": f'attachment; filename="fabriek-{name.value}.csv"'})


@router.get("/charts/{name}.svg", response_class=Response, summary="A dashboard chart as SVG",
            description="Drawn on the server, without JavaScript; `role=img` with a title and "
                        "a description that carries every value.",
            responses={200: {"content": {SVG: {}}, "description": "An SVG image."}})
def chart(name: Annotated[ChartName, Path(description="The chart.")], request: Request,
          days: Days = service.DEFAULT_DAYS) -> Response:
    figure = _figure_set(request, dashboard.CHARTS[name].figure_set, days)
    return Response(dashboard.render(name, figure), media_type=SVG)
