"""The federation's catalogue: factories and antennas, partitions' capacity, maintenance
windows, factory operators, and the GPU specifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from fabriek.access.policy_files import is_country_code
from fabriek.api.deps import (
    IdempotencyHeader,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    commit_and_respond,
    idempotent,
)
from fabriek.api.pagination import Limit
from fabriek.errors import ValidationFailed
from fabriek.federation import service
from fabriek.federation.catalogue import Catalogue
from fabriek.federation.domain import SiteKind
from fabriek.federation.schemas import (
    CapacityUpdate,
    FactoryPage,
    FactoryRead,
    GpuSpecRead,
    MaintenanceCreate,
    MaintenanceRead,
    OperatorAssign,
    PartitionRead,
)

router = APIRouter(prefix="/api/v1", tags=["factories"])


async def _catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue


CatalogueDep = Annotated[Catalogue, Depends(_catalogue)]
FactoryAfter = Annotated[str | None, Query(max_length=60,
                                           description="Only factories after this id.")]


@router.get("/factories", response_model=FactoryPage)
def list_(session: ReadSession, principal: Reader, catalogue: CatalogueDep, limit: Limit = 50,
          after: FactoryAfter = None, kind: SiteKind | None = None,
          country: Annotated[str | None, Query(max_length=2, min_length=2)] = None,
          sector: Annotated[str | None, Query(max_length=60)] = None) -> FactoryPage:
    """AI Factories and Antennas, in id order; filter by kind, country (ISO 3166-1 alpha-2)
    and sector (an id or a synonym, e.g. healthcare)."""
    if country is not None:
        country = country.upper()
        if not is_country_code(country):
            raise ValidationFailed(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    sector_id = service.resolve_sector(catalogue, sector) if sector else None
    rows = service.list_factories(session, principal, kind=kind, country=country,
                                  sector=sector_id, after=after, limit=limit)
    return FactoryPage(items=service.factory_summaries(session, rows),
                       next_after=rows[-1].id if len(rows) == limit else None)


@router.get("/factories/{factory_id}", response_model=FactoryRead)
def show(factory_id: str, session: ReadSession, principal: Reader,
         catalogue: CatalogueDep) -> FactoryRead:
    """A factory with its partitions, capacity bases, maintenance windows and sources."""
    return service.factory_view(session, principal,
                                service.get_factory(session, principal, factory_id), catalogue)


@router.put("/factories/{factory_id}/partitions/{partition_id}/capacity",
            response_model=PartitionRead)
def set_capacity(factory_id: str, partition_id: str, body: CapacityUpdate,
                 session: WriteSession, principal: Writer, catalogue: CatalogueDep
                 ):  # type: ignore[no-untyped-def]
    """An operator of the factory (or an access officer) sets the partition's real figures;
    the basis becomes `operator` and a newer catalogue no longer changes them."""
    partition = service.set_capacity(session, principal, factory_id, partition_id, body,
                                     gpu_specs=catalogue.federation.gpu_specs)
    return commit_and_respond(session, service.partition_read(partition))


@router.get("/factories/{factory_id}/maintenance", response_model=list[MaintenanceRead])
def maintenance(factory_id: str, session: ReadSession, principal: Reader
                ) -> list[MaintenanceRead]:
    return [MaintenanceRead.model_validate(w)
            for w in service.list_maintenance(session, principal, factory_id)]


@router.post("/factories/{factory_id}/maintenance", response_model=MaintenanceRead,
             status_code=201)
def add_maintenance(factory_id: str, body: MaintenanceCreate, request: Request,
                    session: WriteSession, principal: Writer, key: IdempotencyHeader = None
                    ):  # type: ignore[no-untyped-def]
    """Announce a maintenance window (the partition, or the whole factory, loses GPUs)."""
    return idempotent(request, session, principal, key, body, lambda: MaintenanceRead
                      .model_validate(service.add_maintenance(session, principal, factory_id,
                                                              body)), 201)


@router.delete("/factories/{factory_id}/maintenance/{window_id}", status_code=204)
def remove_maintenance(factory_id: str, window_id: int, session: WriteSession,
                       principal: Writer) -> Response:
    service.remove_maintenance(session, principal, factory_id, window_id)
    session.commit()
    return Response(status_code=204)


@router.post("/factories/{factory_id}/operators", response_model=FactoryRead,
             status_code=201)
def add_operator(factory_id: str, body: OperatorAssign, request: Request,
                 session: WriteSession, principal: Writer, catalogue: CatalogueDep,
                 key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Access officers: make a person with the factory-operator role an operator of it."""

    def produce() -> FactoryRead:
        service.assign_operator(session, principal, factory_id, body.email)
        return service.factory_view(session, principal,
                                    service.get_factory(session, principal, factory_id),
                                    catalogue)

    return idempotent(request, session, principal, key, body, produce, 201)


@router.get("/gpu-specs", response_model=list[GpuSpecRead])
def gpu_specs(principal: Reader, catalogue: CatalogueDep) -> list[GpuSpecRead]:
    """Peak dense BF16 and memory per GPU model, with the source of each figure."""
    return service.gpu_spec_views(catalogue)
