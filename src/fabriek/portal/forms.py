"""Turning posted forms into the API's input shapes, and their errors into messages per field.

The portal validates with the same Pydantic schemas the API uses; these helpers only bridge
HTML forms (every value a string, unchecked boxes absent) and those schemas.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from fabriek.portal import web


@dataclass
class Problems:
    """What was wrong with a form: a message per field, and messages about the whole form."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


def problems_of(exc: ValidationError, *, known: Iterable[str] = ()) -> Problems:
    """Each error of `exc` next to its field (the first part of its location) when the form has
    that field, else about the whole form."""
    names = set(known)
    out = Problems()
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = [str(part) for part in error["loc"]]
        if loc and (not names or loc[0] in names):
            out.fields.setdefault(loc[0], message)
        else:
            where = f"{'.'.join(loc)}: " if loc else ""
            out.general.append(where + message)
    return out


def values(form: FormData, names: Iterable[str]) -> dict[str, str]:
    """The posted text of each field (stripped), "" when absent: for re-showing the form."""
    return {name: web.field(form, name) for name in names}


def optional(value: str) -> str | None:
    """An empty field means "not given" (None), not an empty value."""
    return value or None


def checked(form: FormData, name: str) -> bool:
    """A checkbox: present (whatever its value) when ticked."""
    return name in form


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def given(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without the fields left empty, so the schema's defaults apply to them."""
    return {k: v for k, v in data.items() if v not in ("", None)}
