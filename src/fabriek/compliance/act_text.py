"""The text of the AI Act (Regulation (EU) 2024/1689) in English and Dutch, and its citations.

The JSON files in fabriek/compliance/data are unofficial conversions of the Official Journal
text (see that folder's README). A citation is written the way lawyers do and the tree does:
"Article 5(1)(f)", "Article 3(1)", "Article 113(c)", "Annex III point 4(a)", "Annex I Section A",
"Recital 12". `ActText.exists` answers whether the text has that article, paragraph and point,
so the decision tree can be checked against the Act instead of trusting its authors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Lang = Literal["en", "nl"]
LANGS: tuple[Lang, ...] = ("en", "nl")

ELI = "https://eur-lex.europa.eu/eli/reg/2024/1689/oj"
_ELI_LANG = {"en": "eng", "nl": "nld"}

_CITATION = re.compile(
    r"^(?P<kind>Article|Recital|Annex) (?P<number>[0-9]+|[IVXL]+)"
    r"(?: Section (?P<section>[A-B]))?"
    r"(?: point (?P<annex_point>[0-9]+))?"
    r"(?P<parts>(?:\((?:[0-9]+|[a-z]+)\))*)$")
_PART = re.compile(r"\(([0-9]+|[a-z]+)\)")


class CitationError(ValueError):
    """A citation that is not written in the form this module reads."""


@dataclass(frozen=True)
class Citation:
    kind: str               # Article | Recital | Annex
    number: str             # "5", "III"
    section: str | None     # Annex I Section A/B
    annex_point: str | None  # Annex III point 4
    parts: tuple[str, ...]  # ("1", "f") for Article 5(1)(f)

    @property
    def item_id(self) -> str:
        return f"{self.kind} {self.number}"


def parse_citation(text: str) -> Citation:
    m = _CITATION.match(text.strip())
    if m is None or (m["kind"] != "Annex" and (m["section"] or m["annex_point"])):
        raise CitationError(f"cannot read the citation {text!r}; write e.g. 'Article 5(1)(f)', "
                            "'Annex III point 4(a)' or 'Recital 12'")
    return Citation(m["kind"], m["number"], m["section"], m["annex_point"],
                    tuple(_PART.findall(m["parts"] or "")))


_ANY_POINT = re.compile(r"^(\s*)(?:- )?(?:\(?[a-z]+\)|\([0-9]+\)|[0-9]+\.)\s")


def _point_label(label: str) -> re.Pattern[str]:
    # EN "(a)", NL annexes "a)", NL sub-points " - i)", numbered "(1)" or "1."
    if label.isdigit():
        return re.compile(rf"^(\s*)(?:\({label}\)|{label}\.)\s")
    return re.compile(rf"^(\s*)(?:- )?\(?{label}\)\s")


def _point_block(text: str, label: str, *, nested: bool) -> str | None:
    """The line starting with point `label` and the more deeply indented lines under it.

    Only points at the shallowest level of `text` count (below its first line when `nested`),
    so the roman "(i)" under point (c) is not taken for a point (i).
    """
    lines = text.splitlines()
    candidates = lines[1:] if nested else lines
    levels = [len(m[1]) for m in map(_ANY_POINT.match, candidates) if m]
    if not levels:
        return None
    level, pattern = min(levels), _point_label(label)
    for i, line in enumerate(candidates):
        m = pattern.match(line)
        if m is None or len(m[1]) != level:
            continue
        block = [line]
        for following in candidates[i + 1:]:
            if len(following) - len(following.lstrip()) <= level:
                break
            block.append(following)
        return "\n".join(block)
    return None


def _section(text: str, start: re.Pattern[str], stop: re.Pattern[str]) -> str | None:
    """The lines of `text` from the first line matching `start` up to one matching `stop`."""
    lines, out, inside = text.splitlines(), [], False
    for line in lines:
        if inside and stop.match(line):
            break
        if start.match(line):
            inside = True
        if inside:
            out.append(line)
    return "\n".join(out) if out else None


@dataclass(frozen=True)
class ActText:
    lang: Lang
    items: dict[str, dict[str, Any]]

    def item(self, item_id: str) -> dict[str, Any] | None:
        return self.items.get(item_id)

    def paragraph(self, anchor: str) -> dict[str, Any] | None:
        """A numbered paragraph by its EUR-Lex anchor, "006.003" = Article 6(3)."""
        article = self.items.get(f"Article {int(anchor.split('.')[0])}")
        if article is None:
            return None
        return next((p for p in article.get("paragraphs") or [] if p["id"] == anchor), None)

    def label(self, item_id: str) -> str:
        item = self.items.get(item_id)
        return (item or {}).get("label") or item_id

    def exists(self, citation: str) -> bool:
        """Whether the Act has this article/paragraph/point, annex point or recital."""
        try:
            c = parse_citation(citation)
        except CitationError:
            return False
        item = self.items.get(c.item_id)
        if item is None:
            return False
        if c.kind == "Recital":
            return not c.parts
        if c.kind == "Annex":
            return self._annex_exists(item, c)
        text, parts = item["text"], list(c.parts)
        if item.get("paragraphs") and parts:
            anchor = f"{int(c.number):03d}.{int(parts[0]):03d}" if parts[0].isdigit() else None
            para = self.paragraph(anchor) if anchor else None
            if para is None:
                return False
            text, parts = para["text"], parts[1:]
        return self._points_exist(text, parts)

    def _points_exist(self, text: str, parts: list[str], *, nested: bool = False) -> bool:
        for depth, part in enumerate(parts):
            block = _point_block(text, part, nested=nested or depth > 0)
            if block is None:
                return False
            text = block  # "(ii)" is looked up under its parent point only
        return True

    def _annex_exists(self, item: dict[str, Any], c: Citation) -> bool:
        text = item["text"]
        if c.section is not None:
            heading = {"en": "Section", "nl": "Afdeling"}[self.lang]
            if re.search(rf"^{heading} {c.section}\b", text, re.MULTILINE) is None:
                return False
        if c.annex_point is None:
            return not c.parts
        area = _section(text, re.compile(rf"^{c.annex_point}\.\s"),
                        re.compile(r"^[0-9]+\.\s"))
        if area is None:
            return False
        return self._points_exist(area, list(c.parts), nested=True)

    def link(self, citation: str) -> str:
        """The EUR-Lex address of the cited article, recital or annex."""
        c = parse_citation(citation)
        fragment = {"Article": "art_", "Recital": "rct_", "Annex": "anx_"}[c.kind] + c.number
        return f"{ELI}/{_ELI_LANG[self.lang]}#{fragment}"


@cache
def load_act(lang: Lang) -> ActText:
    """The Act in `lang`, read once per process from the packaged JSON."""
    if lang not in LANGS:
        raise ValueError(f"no Act text in {lang!r}; the languages are {', '.join(LANGS)}")
    raw = resources.files("fabriek.compliance").joinpath(f"data/ai_act_{lang}.json")
    data = json.loads(raw.read_text(encoding="utf-8"))
    return ActText(lang=lang, items={item["id"]: item for item in data["items"]})
