"""English and Dutch: every string the portal marks for translation (extracted afresh from the
templates and the portal's code, as scripts/i18n.sh does) has a Dutch translation with the same
placeholders; the templates carry no words outside gettext; and pages are in Dutch when the
browser prefers it."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from httpx import Response
from markupsafe import escape

from fabriek.identity.enums import Role
from fabriek.portal import i18n, rendering
from tests.api import helpers as api
from tests.conftest import Person
from tests.portal.helpers import post_form, text_of
from tests.portal.staff_helpers import fast_lane_in_review

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "src" / "fabriek" / "portal"
TEMPLATES = PORTAL / "templates"
DUTCH = {"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}
# %(name)s and friends; "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]?\d*(?:\.\d+)?[diouxXeEfFgGcrs]")


# --- the catalogue --------------------------------------------------------------------------


@cache
def extracted() -> Catalog:
    """What `scripts/i18n.sh update` would put in messages.pot now: babel's extraction with the
    same mapping (babel.cfg) and keywords (the defaults, which include N_)."""
    with (PORTAL / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog()
    for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None}):
        catalog.add(message, None, [(filename, lineno)], context=context)
    return catalog


@cache
def dutch() -> Catalog:
    """The Dutch catalogue the application reads (fabriek.portal.i18n)."""
    po = PORTAL / "locale" / "nl" / "LC_MESSAGES" / "messages.po"
    assert po.exists(), f"{po} is missing: run scripts/i18n.sh update, then translate"
    with po.open("rb") as f:
        return read_po(f, locale="nl")


def _key(message: Message) -> tuple[str | None, str]:
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return message.context, msgid


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def _sources_and_translations(message: Message, translated: Message
                              ) -> list[tuple[str, str]]:
    """(English, Dutch) pairs: one for a plain message, one per plural form otherwise (Dutch
    has two forms: singular and plural, as English)."""
    if isinstance(message.id, tuple):
        strings = translated.string if isinstance(translated.string, tuple) else ()
        return [(message.id[min(i, 1)], s) for i, s in enumerate(strings)] or [
            (message.id[0], "")]
    return [(message.id, translated.string if isinstance(translated.string, str) else "")]


@pytest.mark.unit
def test_the_extraction_finds_the_portals_strings() -> None:
    """A guard for the test itself: an empty extraction would make the checks below vacuous."""
    ids = {_key(m)[1] for m in extracted() if m.id}
    assert len(ids) > 500
    # From a template, from Python (N_), a plural and a string with a context.
    assert {"Skip to content", "You are signed out.", "%(num)s minute",
            "passed"} <= ids


@pytest.mark.unit
def test_every_marked_string_has_a_dutch_translation() -> None:
    po = {_key(m): m for m in dutch() if m.id}
    missing, fuzzy, empty = [], [], []
    for message in extracted():
        if not message.id:
            continue
        translated = po.get(_key(message))
        if translated is None:
            missing.append(_key(message))
        elif translated.fuzzy:
            fuzzy.append(_key(message))
        elif not all(dutch for _, dutch in _sources_and_translations(message, translated)):
            empty.append(_key(message))
    assert not missing, f"not in the Dutch catalogue (run scripts/i18n.sh update): {missing}"
    assert not fuzzy, f"marked fuzzy in the Dutch catalogue (check, then unmark): {fuzzy}"
    assert not empty, f"no Dutch translation yet: {empty}"


@pytest.mark.unit
def test_translations_keep_the_placeholders() -> None:
    po = {_key(m): m for m in dutch() if m.id}
    wrong = []
    for message in extracted():
        translated = po.get(_key(message))
        if not message.id or translated is None:
            continue
        for english, dutch_text in _sources_and_translations(message, translated):
            names = _placeholders(english)
            if _placeholders(dutch_text) != names:
                wrong.append((english, dutch_text))
                continue
            # Jinja's newstyle gettext always %-formats, so a stray % would break the page.
            values = {name: "x" for name in names} | {"num": 1}
            try:
                dutch_text % values
            except (ValueError, TypeError, KeyError) as exc:
                wrong.append((english, f"{dutch_text} ({exc})"))
            if english.count("%%") != dutch_text.count("%%"):
                wrong.append((english, dutch_text))
            # Newstyle gettext marks a translation safe: markup in it would reach the page.
            if re.search(r"[<>&]", dutch_text):
                wrong.append((english, f"{dutch_text} (markup)"))
    assert not wrong, wrong


@pytest.mark.unit
def test_plural_forms_follow_the_number() -> None:
    env = rendering.templates("nl")
    template = env.from_string('{{ ngettext("%(num)s minute", "%(num)s minutes", n) }}')
    assert [template.render(n=n) for n in (1, 5)] == ["1 minuut", "5 minuten"]
    english = rendering.templates("en").from_string(
        '{{ ngettext("%(num)s month from %(start)s", "%(num)s months from %(start)s", n, '
        'start="2030-01-01") }}')
    assert english.render(n=1) == "1 month from 2030-01-01"
    assert i18n.translations("nl").pgettext("admission check", "failed") == "niet voldaan"


# --- the templates ----------------------------------------------------------------------------


def _words_outside_gettext(source: str) -> list[str]:
    """Words a template shows that are not produced by an expression: text between tags and
    in the attributes people read (aria-label, title, placeholder, alt)."""
    text = re.sub(r"\{#.*?#\}", "", source, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", text, flags=re.S)
    found = re.findall(r'\b(?:aria-label|title|placeholder|alt)="([^"]*[A-Za-z][^"]*)"', text)
    between = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    # Attributes written by a macro outside any tag (aria-describedby="…") are not text.
    between = re.sub(r'[\w-]+="[^"]*"', " ", between)
    found += [w for w in between.split() if re.search(r"[A-Za-z]{2,}", w)]
    return found


# Units stand after figures as they are in both languages.
UNITS = {"TB", "GB"}


@pytest.mark.unit
def test_templates_show_no_words_outside_gettext() -> None:
    bare = {str(p.relative_to(TEMPLATES)): words
            for p in sorted(TEMPLATES.rglob("*.html"))
            if (words := [w for w in _words_outside_gettext(p.read_text())
                          if w.strip("()") not in UNITS])}
    assert not bare, f"wrap these in _() (or ngettext) so they can be translated: {bare}"


# --- pages in Dutch ---------------------------------------------------------------------------


@cache
def _english_phrases() -> dict[str, str]:
    """English messages of three words or more without placeholders whose Dutch differs: none
    of them may be left on a Dutch page."""
    po = {_key(m): m for m in dutch() if m.id}
    phrases = {}
    for message in extracted():
        if not message.id or isinstance(message.id, tuple) or "%" in message.id:
            continue
        translated = po.get(_key(message))
        if translated and translated.string and translated.string != message.id \
                and len(message.id.split()) >= 3:
            phrases[message.id] = translated.string
    return phrases


def _english_left(page: str) -> list[str]:
    """The portal's English phrases that fill a whole element or attribute of `page`: a
    heading, label, button, caption or aria-label left untranslated. (Text of the services and
    of the policy files stays English by design; it may quote such a phrase inside a sentence,
    so only whole elements count.)"""
    page = re.sub(r"\s*<", "<", re.sub(r">\s*", ">", page))
    # Newstyle gettext marks its result safe, so a message's apostrophe arrives unescaped.
    return [english for english in _english_phrases()
            if any(f">{form}<" in page or f'="{form}"' in page
                   for form in (english, escape(english)))]


def _in_dutch(r: Response, *expected: str) -> str:
    assert r.status_code == 200, text_of(r)
    assert '<html lang="nl">' in r.text
    text = html.unescape(text_of(r))
    for phrase in expected:
        assert phrase in text, (phrase, text)
    assert not (left := _english_left(r.text)), f"English on a Dutch page: {left}"
    return text


@pytest.mark.integration
def test_the_public_pages_are_in_dutch(anonymous: TestClient) -> None:
    text = _in_dutch(anonymous.get("/", headers=DUTCH), "GPU-tijd op Europa's AI-fabrieken",
                     "Direct naar de inhoud", "Account aanmaken", "Programmacijfers",
                     "Inloggen")
    for english in ("Sign in", "Create an account", "Programme figures", "Skip to content"):
        assert english not in text, english
    text = _in_dutch(anonymous.get("/sign-in", headers=DUTCH), "E-mailadres", "Wachtwoord",
                     "Nog geen account?", "Maak er een aan")
    assert "Password" not in text and "E-mail address" not in text
    text = _in_dutch(anonymous.get("/sign-up", headers=DUTCH), "Uw naam",
                     "Ten minste 12 tekens.", "Het wachtwoord nogmaals")
    assert "Your name" not in text and "At least 12 characters" not in text
    # The same page for a reader who prefers English (or says nothing) stays English.
    assert "Your name" in text_of(anonymous.get("/sign-up"))


@pytest.mark.integration
def test_errors_and_the_portals_own_messages_are_in_dutch(anonymous: TestClient) -> None:
    r = anonymous.get("/no-such-page", headers=DUTCH)
    assert r.status_code == 404 and "Niet gevonden" in text_of(r)
    assert "U bent uitgelogd." in text_of(anonymous.get("/?notice=signed-out", headers=DUTCH))
    r = post_form(anonymous, "/sign-up", {
        "display_name": "Anna", "email": "anna@lumen.example",
        "password": "a long enough password", "password_again": "another long password"},
        headers=DUTCH)
    assert r.status_code == 400
    assert "de twee wachtwoorden verschillen" in html.unescape(text_of(r))


@pytest.mark.integration
def test_an_applicants_own_page_is_in_dutch(anonymous: TestClient,
                                            browser_for: Callable[[Person], TestClient],
                                            make_person: Callable[..., Person]) -> None:
    anna = make_person("anna@lumen.example")
    org_id = api.org(anonymous, anna)
    api.accepted(anonymous, anna, org_id)  # with its allocation
    api.in_review(anonymous, anna, org_id)
    client = browser_for(anna)
    text = _in_dutch(client.get("/me", headers=DUTCH), "Mijn werk", "Mijn organisaties",
                     "Voorstellen van mijn organisaties, nieuwste eerst", "Toegangsmodus",
                     "goedgekeurd", "in beoordeling", "Toewijzingen", "GPU-uren verbruikt",
                     "Een taak indienen op toewijzing", "Komt in aanmerking",
                     "gegevens bevestigd", "Nog geen taken.")
    for english in ("My organisations", "Proposals", "Allocations", "accepted", "in review",
                    "Eligible", "No jobs yet"):
        assert english not in text, english


@pytest.mark.integration
def test_the_access_officers_queue_is_in_dutch(anonymous: TestClient,
                                               browser_for: Callable[[Person], TestClient],
                                               make_person: Callable[..., Person],
                                               officer: Person) -> None:
    fast_lane_in_review(anonymous, make_person("anna@lumen.example"))
    office = browser_for(officer)
    text = _in_dutch(office.get("/officer", headers=DUTCH), "Toegangsbureau",
                     "Toegangsmodi en sluitingsdata", "doorlopend open",
                     "Voorstellen, oudste eerst", "in beoordeling", "Besluit uiterlijk",
                     "alle modi", "alle statussen", "Tonen")
    for english in ("Access office", "Access modes and cut-offs", "permanently open",
                    "Proposals, oldest first", "in review", "Decision due"):
        assert english not in text, english
    # A reader who switched to Dutch keeps it whatever the browser says.
    office.get("/lang/nl")
    assert "Toegangsbureau" in text_of(office.get("/officer", headers={
        "Accept-Language": "en"}))


@pytest.mark.integration
def test_a_reviewers_page_is_in_dutch(anonymous: TestClient,
                                      browser_for: Callable[[Person], TestClient],
                                      make_person: Callable[..., Person],
                                      officer: Person) -> None:
    _, proposal_id = fast_lane_in_review(anonymous, make_person("anna@lumen.example"))
    reviewer = make_person("rev@uni.example", Role.reviewer)
    review = api.assign(anonymous, officer, proposal_id, reviewer)
    client = browser_for(reviewer)
    _in_dutch(client.get("/reviews", headers=DUTCH), "Uw beoordelingen", "technisch",
              "te doen")
    _in_dutch(client.get(f"/reviews/{review['id']}", headers=DUTCH), "Belangenconflict",
              "Beoordeling (technisch) voor", "Uw scores", "Toelatingscontroles bij indiening",
              "voldaan")
