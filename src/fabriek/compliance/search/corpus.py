"""The Act cut into retrieval units: article paragraphs, definitions and points, annex points
and recitals, each knowing its citation, title and EUR-Lex link (pure, apart from reading the
packaged JSON).

A unit is what is ranked and quoted. Articles with numbered paragraphs give one unit per
paragraph (EUR-Lex anchor AAA.PPP), or per point where the paragraph lists points (Art. 5(1)(e));
articles without (Art. 3 definitions, Art. 16 duties) give one per top-level point; a point
keeps the lead-in line before it for the quote; annexes give one per
top-level numbered point (within a section where the annex has sections); a recital is one unit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from fabriek.compliance.search.text import Lang

DATA_PACKAGE = "fabriek.compliance"  # files in its data/ folder (package data, no module)
EURLEX = "https://eur-lex.europa.eu/eli/reg/2024/1689/oj"
_EURLEX_LANG = {"en": "eng", "nl": "nld"}

# Top-level point labels: "(a)", "(12)", "a)", "12)"; annex points "4." (Annex I: " | 4. | ").
_POINT = re.compile(r"^\(?([a-z]{1,3}|\d{1,3})\)\s")
_ANNEX_POINT = re.compile(r"^(?:\s*\|\s*)?(\d{1,2})\.(?!\d)(?:\s*\|)?\s*")
_ANNEX_SECTION = re.compile(r"^(?:Section|Afdeling)\s+([A-Z0-9]{1,2})\b")


@dataclass(frozen=True)
class Unit:
    """One rankable, quotable piece of the Act."""

    item_id: str  # language-independent: "Article 5", "Annex III", "Recital 44"
    kind: str  # article | annex | recital
    lang: Lang
    citation: str  # in the unit's language: "Article 5(1)", "Bijlage III, punt 4"
    label: str  # the item in the unit's language: "Article 5", "Artikel 5"
    title: str  # the item's heading ("" for recitals)
    context: str  # chapter and section headings, for ranking only
    lead: str  # a lead-in line quoted before the text ("" when none)
    text: str
    anchor: str  # EUR-Lex paragraph anchor "005.001", or ""
    link: str


def data_path(lang: Lang) -> Path:
    return Path(str(resources.files(DATA_PACKAGE).joinpath("data", f"ai_act_{lang}.json")))


@lru_cache(maxsize=2)
def raw_bytes(lang: Lang) -> bytes:
    return data_path(lang).read_bytes()


def text_hash(lang: Lang) -> str:
    return hashlib.sha256(raw_bytes(lang)).hexdigest()


def link(item_id: str, lang: Lang) -> str:
    """EUR-Lex link to the item: #art_6, #rct_44, #anx_III."""
    kind, number = item_id.split(" ", 1)
    fragment = {"Article": "art", "Recital": "rct", "Annex": "anx"}[kind]
    return f"{EURLEX}/{_EURLEX_LANG[lang]}#{fragment}_{number}"


def _label(item: dict[str, Any], lang: Lang) -> str:
    return (item.get("label") or item["id"]) if lang == "nl" else item["id"]


def paragraph_citation(label: str, number: str, lang: Lang) -> str:
    return f"{label}({number})" if lang == "en" else f"{label}, lid {number}"


def point_citation(base: str, point: str, lang: Lang) -> str:
    """ "Article 5(1)(f)" / "Artikel 5, lid 1, punt f)"; "Article 3(12)" / "Artikel 3, punt 12)"."""
    return f"{base}({point})" if lang == "en" else f"{base}, punt {point})"


def annex_point_citation(label: str, section: str | None, point: str | None, lang: Lang) -> str:
    parts = [label]
    if section:
        parts.append(f"{'Section' if lang == 'en' else 'afdeling'} {section}")
    if point:
        parts.append(f"{'point' if lang == 'en' else 'punt'} {point}")
    return ", ".join(parts)


def _context(item: dict[str, Any]) -> str:
    parts = []
    for key in ("chapter", "section"):
        if item.get(key):
            parts.append(item[key].get("title") or "")
    return " ".join(p for p in parts if p)


def _article_units(item: dict[str, Any], lang: Lang) -> list[Unit]:
    label, title, ctx = _label(item, lang), item.get("title") or "", _context(item)
    url = link(item["id"], lang)

    def unit(citation: str, text: str, *, lead: str = "", anchor: str = "") -> Unit:
        return Unit(
            item["id"], "article", lang, citation, label, title, ctx, lead, text, anchor, url
        )

    if item.get("paragraphs"):
        units = []
        for p in item["paragraphs"]:
            citation = paragraph_citation(label, p["number"], lang)
            units.extend(_pointwise(unit, citation, p["text"], lang, anchor=p["id"]))
        return units
    return _pointwise(unit, label, item["text"], lang, anchor="")


def _pointwise(
    unit: Callable[..., Unit], citation: str, text: str, lang: Lang, *, anchor: str
) -> list[Unit]:
    """One unit for a text, or, where it lists points, one per point (with the lead-in) and
    one for its closing text: a long list would otherwise lose to short paragraphs."""
    lead, points, tail = split_points(text)
    if len(points) < 2:
        return [unit(citation, text, anchor=anchor)]
    units = [
        unit(point_citation(citation, number, lang), body, lead=lead, anchor=anchor)
        for number, body in points
    ]
    if tail.strip():
        units.append(unit(citation, tail, lead=lead, anchor=anchor))
    return units


def split_points(text: str) -> tuple[str, list[tuple[str, str]], str]:
    """Split text into its lead-in, its top-level points ("(a) …" with their indented lines)
    and what follows them unindented (a closing subparagraph, like Art. 6(3)'s profiling
    rule, which belongs to the paragraph, not to its last point)."""
    lead: list[str] = []
    points: list[tuple[str, list[str]]] = []
    tail: list[str] = []
    for line in text.split("\n"):
        match = _POINT.match(line)
        if match:
            points.append((match.group(1), [line]))
        elif points and line.startswith(" ") and not tail:
            points[-1][1].append(line)
        elif points:
            tail.append(line)
        else:
            lead.append(line)
    return "\n".join(lead), [(n, "\n".join(lines)) for n, lines in points], "\n".join(tail)


def _annex_units(item: dict[str, Any], lang: Lang) -> list[Unit]:
    label, title, url = _label(item, lang), item.get("title") or "", link(item["id"], lang)
    section: str | None = None
    current: tuple[str | None, str | None, list[str]] = (None, None, [])
    chunks: list[tuple[str | None, str | None, list[str]]] = [current]
    for line in item["text"].split("\n"):
        sect = _ANNEX_SECTION.match(line)
        point = _ANNEX_POINT.match(line) if not line.startswith("  ") else None
        if sect:
            section = sect.group(1)
            current = (section, None, [line])
            chunks.append(current)
        elif point:
            current = (section, point.group(1), [line])
            chunks.append(current)
        else:
            current[2].append(line)
    units = []
    for sect_id, point_id, lines in chunks:
        body = "\n".join(lines).strip()
        if body:
            units.append(
                Unit(
                    item["id"],
                    "annex",
                    lang,
                    annex_point_citation(label, sect_id, point_id, lang),
                    label,
                    title,
                    "",
                    "",
                    body,
                    "",
                    url,
                )
            )
    return units


def units_of(document: dict[str, Any], lang: Lang) -> list[Unit]:
    """Every retrieval unit of a parsed ai_act_{lang}.json, in the Act's order."""
    units: list[Unit] = []
    for item in document["items"]:
        if item["type"] == "article":
            units.extend(_article_units(item, lang))
        elif item["type"] == "annex":
            units.extend(_annex_units(item, lang))
        elif item["type"] == "recital":
            units.append(
                Unit(
                    item["id"],
                    "recital",
                    lang,
                    _label(item, lang),
                    _label(item, lang),
                    "",
                    "",
                    "",
                    item["text"],
                    "",
                    link(item["id"], lang),
                )
            )
    return units


def load_units(lang: Lang) -> list[Unit]:
    return units_of(json.loads(raw_bytes(lang)), lang)
