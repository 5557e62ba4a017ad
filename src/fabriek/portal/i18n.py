"""English and Dutch: gettext catalogues (.po, compiled in memory at start-up) and the choice
of language from the `lang` cookie or the browser's Accept-Language."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "nl")
DEFAULT = "en"
LANG_COOKIE = "lang"
_LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Marks a string for the catalogue; it is translated where it is shown."""
    return message


# Titles of the error kinds (fabriek.errors) and of HTTP errors, shown on error pages.
ERROR_TITLES = (N_("Bad request"), N_("Not signed in"), N_("Not allowed"), N_("Not found"),
                N_("Conflict"), N_("Not possible in the current state"), N_("Invalid input"),
                N_("Refused by policy"), N_("Temporarily unavailable"), N_("Internal error"),
                N_("Too many attempts"), N_("Sign in first"), N_("Error"))


@cache
def translations(lang: str) -> NullTranslations:
    """The catalogue for `lang`; English is the source language and needs none."""
    po = _LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def choose(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        if tag:
            wanted.append((weight, tag.strip().replace("-", "_")))
    preferred = [tag for _, tag in sorted(wanted, key=lambda w: -w[0])]
    return negotiate_locale(preferred, list(LANGUAGES)) or DEFAULT


def language_name(lang: str) -> str:
    return Locale.parse(lang).get_display_name(lang).capitalize()
