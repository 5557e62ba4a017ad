"""Allocations, and direct (strategic, emergency) allocations by access officers."""

from __future__ import annotations

from fastapi import APIRouter, Request

from fabriek.access import service
from fabriek.access.schemas import (
    AllocationRead,
    AllocationSitesIn,
    DirectAllocationCreate,
    ProposalRead,
)
from fabriek.api.deps import (
    Access,
    IdempotencyHeader,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    commit_and_respond,
    idempotent,
)
from fabriek.api.pagination import After, Limit, Page, page

router = APIRouter(prefix="/api/v1/allocations", tags=["allocations"])


@router.get("", response_model=Page[AllocationRead])
def list_(session: ReadSession, principal: Reader, limit: Limit = 50, after: After = 0,
          organisation_id: int | None = None) -> Page[AllocationRead]:
    rows = service.list_allocations(session, principal, organisation_id=organisation_id,
                                    after=after, limit=limit)
    return page(service.allocation_views(session, rows), [a.id for a in rows], limit)


@router.get("/{allocation_id}", response_model=AllocationRead)
def show(allocation_id: int, session: ReadSession, principal: Reader) -> AllocationRead:
    return service.allocation_views(
        session, [service.get_allocation(session, principal, allocation_id)])[0]


@router.put("/{allocation_id}/sites", response_model=AllocationRead)
def move(allocation_id: int, body: AllocationSitesIn, session: WriteSession, principal: Writer,
         access: Access):  # type: ignore[no-untyped-def]
    """Access officers: move or split what the allocation holds over factories, from today.

    Capacity is released and retaken under lock, all or nothing; audited."""
    allocation = service.move_allocation(session, principal, allocation_id, body, config=access)
    session.flush()
    return commit_and_respond(session, service.allocation_views(session, [allocation])[0])


@router.post("/direct", response_model=ProposalRead, status_code=201)
def direct(body: DirectAllocationCreate, request: Request, session: WriteSession,
           principal: Writer, access: Access, key: IdempotencyHeader = None
           ):  # type: ignore[no-untyped-def]
    """A strategic or emergency allocation, made at once by an access officer."""
    return idempotent(request, session, principal, key, body, lambda: service.proposal_view(
        session, principal, service.create_direct_allocation(session, principal, body,
                                                             config=access)), 201)
