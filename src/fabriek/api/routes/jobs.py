"""Jobs: submit, list, show, follow logs, cancel; usage of allocations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from fabriek.api.deps import (
    Access,
    IdempotencyHeader,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    idempotent,
)
from fabriek.api.pagination import After, Limit, Page, page
from fabriek.compute import service
from fabriek.compute.enums import JobState
from fabriek.compute.schemas import AllocationUsage, JobRead, JobSpec
from fabriek.errors import Conflict

router = APIRouter(prefix="/api/v1", tags=["jobs"])


def _wake(request: Request) -> None:
    reconciler = getattr(request.app.state, "reconciler", None)
    if reconciler is not None:
        reconciler.wake()


@router.post("/jobs", response_model=JobRead, status_code=201)
def submit(body: JobSpec, request: Request, session: WriteSession, principal: Writer,
           access: Access, key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Submit a job on an allocation; refused with the numbers if its worst case does not fit."""
    response = idempotent(request, session, principal, key, body, lambda: service.job_view(
        service.submit_job(session, principal, body, config=access,
                           executors=request.app.state.executors)), 201)
    _wake(request)
    return response


@router.get("/jobs", response_model=Page[JobRead])
def list_(session: ReadSession, principal: Reader, limit: Limit = 50, after: After = 0,
          state: JobState | None = None, allocation_id: int | None = None) -> Page[JobRead]:
    rows = service.list_jobs(session, principal, state=state, allocation_id=allocation_id,
                             after=after, limit=limit)
    return page([service.job_view(j) for j in rows], [j.id for j in rows], limit)


@router.get("/jobs/{job_id}", response_model=JobRead)
def show(job_id: int, session: ReadSession, principal: Reader) -> JobRead:
    return service.job_view(service.get_job(session, principal, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobRead)
def cancel(job_id: int, request: Request, session: WriteSession, principal: Writer,
           key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    response = idempotent(request, session, principal, key, None, lambda: service.job_view(
        service.cancel_job(session, principal, job_id)))
    _wake(request)
    return response


@router.get("/jobs/{job_id}/logs", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}}})
def logs(job_id: int, request: Request, session: ReadSession, principal: Reader,
         stream: Literal["stdout", "stderr"] = "stdout",
         offset: Annotated[int, Query(ge=0)] = 0,
         follow: bool = False):  # type: ignore[no-untyped-def]
    """The job's output from `offset`; `follow=true` streams it until the job ends."""
    if not follow:
        part = service.job_log(session, principal, job_id, stream=stream, offset=offset,
                               executors=request.app.state.executors)
        return PlainTextResponse(part.text, headers={"X-Next-Offset": str(part.next_offset)})
    job = service.get_job(session, principal, job_id)
    if job.external_id is None:
        raise Conflict("the job has not reached its executor yet; no output so far")
    executor = request.app.state.executors.get(job.factory, job.partition)
    external_id = job.external_id
    db = request.app.state.db

    def chunks() -> Iterator[bytes]:
        position, deadline = offset, time.monotonic() + 24 * 3600
        while time.monotonic() < deadline:
            data, position = executor.read_log(external_id, stream, position)
            if data:
                yield data
            with db.unit_of_work(readonly=True) as s:
                state = s.get(type(job), job_id).state  # type: ignore[union-attr]
            if state in JobState.final_states():
                data, position = executor.read_log(external_id, stream, position)
                if data:
                    yield data
                return
            time.sleep(0.5)

    return StreamingResponse(chunks(), media_type="text/plain")


@router.get("/allocations/{allocation_id}/usage", response_model=AllocationUsage,
            tags=["allocations"])
def usage(allocation_id: int, session: ReadSession, principal: Reader) -> AllocationUsage:
    """GPU-hours granted, used, held by queued and running jobs, and left; warnings sent."""
    return service.allocation_usage(session, principal, allocation_id)
