"""One Jinja2 environment per language, each with its gettext catalogue installed, so a page is
rendered in its reader's language without any per-request state in the environment."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache, partial
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from fabriek.portal import i18n

_TEMPLATES = Path(__file__).parent / "templates"
DECIMAL_SIGN = {"nl": ","}


def _number(value: float | int | None, digits: int = 0, *, decimal: str = ".") -> str:
    if value is None:
        return "–"
    # Thousands apart by a thin space, fine in both languages; the decimal sign is the
    # language's own (Dutch writes 2,5).
    return f"{value:,.{digits}f}".replace(",", "\u202f").replace(".", decimal)


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _percent(part: float, whole: float) -> int:
    if not whole:
        return 0
    return max(0, min(100, round(100 * part / whole)))


@cache
def templates(lang: str) -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(number=partial(_number, decimal=DECIMAL_SIGN.get(lang, ".")),
                       when=_when)
    env.globals.update(percent=_percent)
    return env
