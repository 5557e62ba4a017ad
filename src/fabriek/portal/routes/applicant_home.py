"""The applicant's part of /me: their organisations, proposals, allocations and recent jobs.

Only the person's own organisations are shown, also to an access officer or operator who is a
member somewhere: their wider views live on their own pages.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from fabriek.access import service as access
from fabriek.api.routes.organisations import organisation_view
from fabriek.compute import service as compute
from fabriek.compute.enums import JobState
from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.portal import web

RECENT_JOBS = 10


def _section(session: Session, request: Request, principal: Principal) -> dict[str, Any]:
    orgs, proposals, allocations, jobs, preempted = [], [], [], [], []
    for org_id in sorted(principal.organisation_ids):
        org = identity.get_organisation(session, principal, org_id)
        orgs.append(organisation_view(org, request.app.state.access))
        proposals += access.list_proposals(session, principal, organisation_id=org_id,
                                           newest_first=True, limit=50)
        for allocation in access.list_allocations(session, principal, organisation_id=org_id,
                                                  limit=100):
            allocations.append(compute.allocation_usage(session, principal, allocation.id))
        jobs += compute.list_jobs(session, principal, organisation_id=org_id,
                                  newest_first=True, limit=RECENT_JOBS)
        # Pre-empted and waiting to run again: said at the top, not only in a table cell.
        preempted += [j for j in compute.list_jobs(
            session, principal, organisation_id=org_id, state=JobState.queued, limit=200)
            if j.preemptions]
    jobs = sorted(jobs, key=lambda j: -j.id)[:RECENT_JOBS]
    names = {o.id: o.legal_name for o in orgs}
    return {
        "organisations": orgs, "names": names,
        "mode_labels": {m.id: m.label for m in request.app.state.access.policy.modes.modes},
        "proposals": sorted(proposals, key=lambda p: -p.id),
        "allocations": allocations,
        "jobs": [compute.job_view(j) for j in jobs],
        "preempted": [compute.job_view(j) for j in preempted],
    }


def me_section(request: Request, principal: Principal) -> dict[str, Any] | None:
    """What templates/applicant/_me.html shows, or None for a person who is neither an
    applicant nor a member of any organisation."""
    if not (principal.organisation_ids or principal.has(Role.applicant)):
        return None
    return web.in_transaction(request, lambda s: _section(s, request, principal),
                              readonly=True)
