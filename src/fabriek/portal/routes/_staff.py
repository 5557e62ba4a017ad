"""Small helpers shared by the reviewer, access-officer and factory-operator pages: role gates,
and turning form text and Pydantic errors into what a page shows next to each field."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import ValidationError

from fabriek.errors import Forbidden
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.portal.forms import problems_of
from fabriek.portal.i18n import N_

FieldErrors = dict[str, str]

ROLE_NAMES = {Role.reviewer: "reviewers", Role.access_officer: "access officers",
              Role.factory_operator: "factory operators"}


def require_role(principal: Principal, role: Role) -> None:
    """Refuse a page of a role the person does not hold (403, before any data is read)."""
    if not principal.has(role):
        raise Forbidden(f"this page is for {ROLE_NAMES.get(role, role.value)}; your account "
                        f"does not hold the {role.value} role")


def field_errors(exc: ValidationError) -> tuple[FieldErrors, list[str]]:
    """Each field's first message, and the messages about the whole form (no field)."""
    problems = problems_of(exc)
    return problems.fields, problems.general


class FormError(ValueError):
    """A value typed into a form that cannot even be parsed; names its field. The message is
    the portal's own, marked for the catalogue: pages show it through web.translate."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def optional_int(value: str, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(value.replace("\u202f", "").replace(" ", "").replace(",", ""))
    except ValueError:
        raise FormError(name, N_("enter a whole number")) from None


def optional_float(value: str, name: str) -> float | None:
    if not value:
        return None
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise FormError(name, N_("enter a number")) from None


def optional_date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FormError(name, N_("enter a date as YYYY-MM-DD")) from None


def utc_moment(value: str, name: str) -> datetime | None:
    """A browser's datetime-local value ("2026-12-01T08:00"), read as UTC as the form says."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FormError(name, N_("enter a date and time as YYYY-MM-DD HH:MM (UTC)")) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
