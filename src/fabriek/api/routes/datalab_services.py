"""Data-lab services: run one on a dataset's file, follow the run, list a dataset's runs."""

from __future__ import annotations

from fastapi import APIRouter, Request

from fabriek.api.deps import (
    IdempotencyHeader,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    idempotent,
)
from fabriek.api.pagination import After, Limit, Page, page
from fabriek.datalab import runs
from fabriek.datalab.run_models import ServiceName
from fabriek.datalab.run_schemas import RunRead, RunRequest

router = APIRouter(prefix="/api/v1/datalab", tags=["data labs"])


@router.post("/datasets/{slug}/services/{service}", response_model=RunRead, status_code=202)
def start(slug: str, service: ServiceName, request: Request, session: WriteSession,
          principal: Writer, body: RunRequest | None = None,
          key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Queue a service run on one of the dataset's files (default: its newest CSV, JSON or
    Parquet file). Profile, validate and detect-personal-data need the right to read the
    data (a grant for approval and permit datasets) and are logged in its read log; convert
    and synthesize add a file to the dataset and are for its data stewards. Follow the run at
    GET /api/v1/datalab/service-runs/{id}."""
    body = body or RunRequest()
    response = idempotent(request, session, principal, key, body, lambda: runs.run_view(
        session, runs.request_run(session, principal, slug, service, body)), 202)
    if request.app.state.datalab_runner is not None:
        request.app.state.datalab_runner.wake()
    return response


@router.get("/service-runs/{run_id}", response_model=RunRead)
def show(run_id: int, session: ReadSession, principal: Reader) -> RunRead:
    """A run's state, progress and, once done, its result: for the person who asked for it
    and the dataset's stewards."""
    return runs.run_view(session, runs.get_run(session, principal, run_id))


@router.get("/datasets/{slug}/service-runs", response_model=Page[RunRead])
def list_(slug: str, session: ReadSession, principal: Reader, limit: Limit = 50,
          after: After = 0) -> Page[RunRead]:
    """The dataset's runs: all of them for its stewards, your own otherwise."""
    rows = runs.list_runs(session, principal, slug, after=after, limit=limit)
    return page([runs.run_view(session, r) for r in rows], [r.id for r in rows], limit)
