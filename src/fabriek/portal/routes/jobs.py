"""Allocations and their jobs: usage against the grant, pre-emptions, submitting a job, its live
state and output, cancelling it."""

from __future__ import annotations

import shlex
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fabriek.access import service as access
from fabriek.access.enums import AllocationState
from fabriek.compute import service as compute
from fabriek.compute.enums import JobState
from fabriek.compute.executors.base import ExecutorError
from fabriek.compute.spec import JobSpec
from fabriek.errors import FabriekError
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.portal import forms, web
from fabriek.portal.i18n import N_
from fabriek.portal.web import Form, User

router = APIRouter(include_in_schema=False)

JOB_FIELDS = ("name", "run_as", "script", "command", "image", "gpus", "nodes", "cpus",
              "memory_mb", "time_limit_minutes", "env", "model", "datasets")
LOG_PART = 256 * 1024  # bytes of output a page shows at once


# --- the allocation ------------------------------------------------------------------------------


def _allocation_context(session: Session, principal: Principal, allocation_id: int
                        ) -> dict[str, Any]:
    allocation = access.get_allocation(session, principal, allocation_id)
    return {
        "allocation": access.allocation_views(session, [allocation])[0],
        "usage": compute.allocation_usage(session, principal, allocation_id),
        "jobs": [compute.job_view(j) for j in compute.list_jobs(
            session, principal, allocation_id=allocation_id, newest_first=True, limit=200)],
        "preemptions": compute.preemptions(session, principal, allocation_id=allocation_id),
        "can_submit": principal.is_member(allocation.organisation_id) and allocation.state in (
            AllocationState.active, AllocationState.scheduled),
    }


@router.get("/allocations/{allocation_id}")
def allocation_page(request: Request, principal: User, allocation_id: int) -> Response:
    context = web.in_transaction(request, lambda s: _allocation_context(
        s, principal, allocation_id), readonly=True)
    return web.render(request, "applicant/allocation.html", **context)


# --- submitting a job ----------------------------------------------------------------------------


def _spec_input(request: Request, typed: dict[str, str], allocation_id: int
                ) -> tuple[dict[str, Any], forms.Problems]:
    """The form as JobSpec takes it. The command is split into arguments as a shell would
    split it (quotes group words) but never run by one; NAME=value lines are the environment."""
    problems = forms.Problems()
    data: dict[str, Any] = forms.given({k: typed[k] for k in (
        "name", "image", "gpus", "nodes", "cpus", "memory_mb", "time_limit_minutes", "model")})
    data["allocation_id"] = allocation_id
    if typed["run_as"] == "command":
        try:
            data["command"] = shlex.split(typed["command"]) or None
        except ValueError as exc:
            problems.fields["command"] = web.translate(
                request, N_("the command cannot be split into arguments: %(reason)s"),
                reason=exc)
    else:
        data["script"] = typed["script"].replace("\r\n", "\n") or None
    env: dict[str, str] = {}
    for number, line in enumerate(forms.lines(typed["env"]), start=1):
        name, sep, value = line.partition("=")
        if not sep:
            problems.fields.setdefault("env", web.translate(
                request, N_("line %(number)s has no '=': write NAME=value"), number=number))
        env[name.strip()] = value
    data["env"] = env
    # The data labs' datasets to stage next to the job, by name (spaces or commas between).
    data["datasets"] = typed["datasets"].replace(",", " ").split()
    return data, problems


def _validated(request: Request, typed: dict[str, str], allocation_id: int
               ) -> tuple[JobSpec | None, forms.Problems]:
    data, problems = _spec_input(request, typed, allocation_id)
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        found = forms.problems_of(exc, known=JOB_FIELDS)
        problems.fields = {**found.fields, **problems.fields}
        problems.general += found.general
        return None, problems
    return (None, problems) if problems else (spec, problems)


def _job_form(request: Request, principal: Principal, allocation_id: int, typed: dict[str, str],
              *, status_code: int = 200, problems: forms.Problems | None = None,
              error: str | None = None) -> Response:
    context = web.in_transaction(request, lambda s: _allocation_context(
        s, principal, allocation_id), readonly=True)
    return web.render(request, "applicant/job_new.html", status_code=status_code,
                      typed=typed, problems=problems, error=error, **context)


@router.get("/allocations/{allocation_id}/jobs/new")
def new_job(request: Request, principal: User, allocation_id: int) -> Response:
    typed = {k: "" for k in JOB_FIELDS} | {"run_as": "script", "gpus": "1", "nodes": "1",
                                          "time_limit_minutes": "60",
                                          "script": "#!/bin/bash\n"}
    return _job_form(request, principal, allocation_id, typed)


def _wake(request: Request) -> None:
    reconciler = getattr(request.app.state, "reconciler", None)
    if reconciler is not None:
        reconciler.wake()


@router.post("/allocations/{allocation_id}/jobs/new")
def submit_job(request: Request, principal: User, form: Form, allocation_id: int) -> Response:
    typed = forms.values(form, JOB_FIELDS)
    typed["run_as"] = typed["run_as"] if typed["run_as"] in ("script", "command") else "script"
    spec, problems = _validated(request, typed, allocation_id)
    if spec is None:
        return _job_form(request, principal, allocation_id, typed, status_code=400,
                         problems=problems)
    try:
        job_id, warned = web.in_transaction(request, lambda s: _submit(s, request, principal,
                                                                     spec))
    except FabriekError as exc:
        return _job_form(request, principal, allocation_id, typed, status_code=exc.status,
                         error=exc.detail)
    _wake(request)
    return web.redirect(f"/jobs/{job_id}", flash="job-act-warning" if warned else "job-submitted")


def _submit(session: Session, request: Request, principal: Principal, spec: JobSpec
            ) -> tuple[int, bool]:
    job = compute.submit_job(session, principal, spec, config=request.app.state.access,
                             executors=request.app.state.executors)
    return job.id, bool(getattr(job, "act_warnings", []))


# --- the job -------------------------------------------------------------------------------------


def _output(session: Session, request: Request, principal: Principal, job_id: int,
            offset: int) -> dict[str, Any]:
    """Both streams from `offset` (stdout) and 0 (stderr), or why there is none yet."""
    parts: dict[str, Any] = {}
    for stream, start in (("stdout", offset), ("stderr", 0)):
        try:
            parts[stream] = compute.job_log(session, principal, job_id, stream=stream,
                                            offset=start, limit=LOG_PART,
                                            executors=request.app.state.executors)
        except FabriekError as exc:  # not at its executor yet
            parts[stream] = None
            parts["waiting"] = exc.detail
        except ExecutorError as exc:  # the scheduler cannot give it now
            parts[stream] = None
            parts["unavailable"] = str(exc)
    return parts


def _job_context(session: Session, request: Request, principal: Principal, job_id: int,
                 offset: int = 0) -> dict[str, Any]:
    job = compute.get_job(session, principal, job_id)
    view = compute.job_view(job)
    return {
        "job": view, "offset": offset,
        "final": job.state in JobState.final_states(),
        "can_cancel": job.state not in JobState.final_states() and (
            principal.is_member(job.organisation_id) or principal.has(Role.access_officer)),
        "preemptions": compute.preemptions(session, principal, job_id=job_id),
        "output": _output(session, request, principal, job_id, offset),
    }


@router.get("/jobs/{job_id}")
def job_page(request: Request, principal: User, job_id: int, offset: int = 0) -> Response:
    context = web.in_transaction(request, lambda s: _job_context(
        s, request, principal, job_id, max(offset, 0)), readonly=True)
    return web.render(request, "applicant/job.html", **context)


@router.get("/jobs/{job_id}/live")
def job_live(request: Request, principal: User, job_id: int, offset: int = 0) -> Response:
    """The job's state and output alone, polled every 2 s by the page (htmx) until the job has
    finished; 286 tells htmx to stop polling."""
    context = web.in_transaction(request, lambda s: _job_context(
        s, request, principal, job_id, max(offset, 0)), readonly=True)
    return web.render(request, "applicant/_job_live.html",
                      status_code=286 if context["final"] else 200, **context)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request: Request, principal: User, form: Form, job_id: int) -> Response:
    try:
        web.in_transaction(request, lambda s: compute.cancel_job(s, principal, job_id))
    except FabriekError as exc:
        if exc.status == 404:
            raise
        context = web.in_transaction(request, lambda s: _job_context(
            s, request, principal, job_id), readonly=True)
        return web.render(request, "applicant/job.html", status_code=exc.status,
                          error=exc.detail, **context)
    _wake(request)
    return web.redirect(f"/jobs/{job_id}", flash="cancelled")
