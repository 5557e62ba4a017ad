"""The factory operator's pages: their factories, each factory's partitions, the capacity
calendar (committed against available GPU-hours per week), maintenance windows and the jobs
running or queued there."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fabriek.compute import service as compute
from fabriek.errors import BadRequest, FabriekError, Forbidden
from fabriek.federation import service as federation
from fabriek.federation.catalogue import Catalogue
from fabriek.federation.schemas import CapacityUpdate, MaintenanceCreate
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow
from fabriek.portal import web
from fabriek.portal.i18n import N_
from fabriek.portal.routes._staff import (
    FormError,
    field_errors,
    optional_int,
    require_role,
    utc_moment,
)
from fabriek.portal.web import Form, User

router = APIRouter(include_in_schema=False)
DEFAULT_WEEKS = 12
MAX_WEEKS = 52
# Said above a form that was refused, its reasons next to the fields.
_NOT_ANNOUNCED = N_("the window is not announced; see the fields")
_NOT_CHANGED = N_("the capacity is not changed; see the fields")


def _catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue


def _operations(principal: Principal) -> None:
    """The factory pages are for operators (of that factory, the service checks) and for
    access officers, who may change any factory."""
    if not (principal.has(Role.factory_operator) or principal.has(Role.access_officer)):
        raise Forbidden("this page is for factory operators and access officers; your account "
                        "holds neither role")


@router.get("/operator")
def my_factories(request: Request, principal: User) -> Response:
    require_role(principal, Role.factory_operator)
    factories = web.in_transaction(request, lambda s: federation.factory_summaries(
        s, federation.operated_factories(s, principal)), readonly=True)
    return web.render(request, "operator/index.html", factories=factories)


def _factory(session: Session, principal: Principal, factory_id: str, catalogue: Catalogue,
             start_on: date, weeks: int) -> dict[str, Any]:
    factory = federation.require_operator(session, principal, factory_id)
    return {
        "factory": federation.factory_view(session, principal, factory, catalogue),
        "calendar": federation.capacity_calendar(session, principal, factory.id,
                                                 start_on=start_on, weeks=weeks),
        "jobs": compute.factory_jobs(session, principal, factory.id),
        "start_on": start_on, "weeks": weeks,
    }


def _window(start: str, weeks: int) -> tuple[date, int]:
    if not 1 <= weeks <= MAX_WEEKS:
        raise BadRequest(f"weeks must be 1..{MAX_WEEKS}")
    if not start:
        return utcnow().date(), weeks
    try:
        return date.fromisoformat(start), weeks
    except ValueError:
        raise BadRequest("start must be a date, YYYY-MM-DD") from None


def _factory_page(request: Request, principal: Principal, factory_id: str, *,
                  start: str = "", weeks: int = DEFAULT_WEEKS, status_code: int = 200,
                  **typed: Any) -> Response:
    start_on, weeks = _window(start, weeks)
    context = web.in_transaction(request, lambda s: _factory(
        s, principal, factory_id, _catalogue(request), start_on, weeks), readonly=True)
    return web.render(request, "operator/factory.html", status_code=status_code,
                      **{"errors": {}, "typed": {}, **context, **typed})


@router.get("/operator/factories/{factory_id}")
def factory_page(request: Request, factory_id: str, principal: User, start: str = "",
                 weeks: int = DEFAULT_WEEKS) -> Response:
    _operations(principal)
    return _factory_page(request, principal, factory_id, start=start, weeks=weeks)


_MAINTENANCE = ("partition_id", "starts_at", "ends_at", "gpus", "reason")


@router.post("/operator/factories/{factory_id}/maintenance")
def add_maintenance(request: Request, factory_id: str, principal: User, form: Form
                    ) -> Response:
    _operations(principal)
    typed = {k: web.field(form, k) for k in _MAINTENANCE}
    try:
        body = MaintenanceCreate(
            partition_id=typed["partition_id"] or None,
            starts_at=utc_moment(typed["starts_at"], "starts_at"),
            ends_at=utc_moment(typed["ends_at"], "ends_at"),
            gpus=optional_int(typed["gpus"], "gpus"), reason=typed["reason"])
        web.in_transaction(request, lambda s: federation.add_maintenance(
            s, principal, factory_id, body))
    except FormError as exc:
        return _factory_page(request, principal, factory_id, status_code=400, typed=typed,
                             errors={exc.name: web.translate(request, exc.message)},
                             maintenance_error=web.translate(request, _NOT_ANNOUNCED))
    except ValidationError as exc:
        fields, general = field_errors(exc)
        return _factory_page(request, principal, factory_id, status_code=400, typed=typed,
                             errors=fields, maintenance_error="; ".join(general) or
                             web.translate(request, _NOT_ANNOUNCED))
    except FabriekError as exc:
        return _factory_page(request, principal, factory_id, status_code=exc.status,
                             typed=typed, maintenance_error=exc.detail)
    return web.redirect(f"/operator/factories/{factory_id}",
                        flash="maintenance-added")


@router.post("/operator/factories/{factory_id}/maintenance/{window_id}/remove")
def remove_maintenance(request: Request, factory_id: str, window_id: int, principal: User,
                       form: Form) -> Response:
    _operations(principal)
    try:
        web.in_transaction(request, lambda s: federation.remove_maintenance(
            s, principal, factory_id, window_id))
    except FabriekError as exc:
        return _factory_page(request, principal, factory_id, status_code=exc.status,
                             maintenance_error=exc.detail)
    return web.redirect(f"/operator/factories/{factory_id}",
                        flash="maintenance-removed")


@router.post("/operator/factories/{factory_id}/partitions/{partition_id}/capacity")
def set_capacity(request: Request, factory_id: str, partition_id: str, principal: User,
                 form: Form) -> Response:
    _operations(principal)
    typed = {f"{partition_id}-{k}": web.field(form, k) for k in ("nodes", "gpus_per_node",
                                                                 "note")}
    try:
        body = CapacityUpdate(
            nodes=optional_int(typed[f"{partition_id}-nodes"], f"{partition_id}-nodes"),
            gpus_per_node=optional_int(typed[f"{partition_id}-gpus_per_node"],
                                       f"{partition_id}-gpus_per_node"),
            note=typed[f"{partition_id}-note"])
        web.in_transaction(request, lambda s: federation.set_capacity(
            s, principal, factory_id, partition_id, body,
            gpu_specs=_catalogue(request).federation.gpu_specs))
    except FormError as exc:
        return _factory_page(request, principal, factory_id, status_code=400, typed=typed,
                             errors={exc.name: web.translate(request, exc.message)},
                             capacity_partition=partition_id,
                             capacity_error=web.translate(request, _NOT_CHANGED))
    except ValidationError as exc:
        fields, general = field_errors(exc)
        return _factory_page(request, principal, factory_id, status_code=400, typed=typed,
                             errors={f"{partition_id}-{k}": v for k, v in fields.items()},
                             capacity_partition=partition_id,
                             capacity_error="; ".join(general) or
                             web.translate(request, _NOT_CHANGED))
    except FabriekError as exc:
        return _factory_page(request, principal, factory_id, status_code=exc.status,
                             typed=typed, capacity_partition=partition_id,
                             capacity_error=exc.detail)
    return web.redirect(f"/operator/factories/{factory_id}", flash="capacity-set")
