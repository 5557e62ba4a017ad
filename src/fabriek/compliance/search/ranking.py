"""Ranking (pure): fuse BM25 with semantic similarity, rank items by their best unit, and
quote that unit: the best-matching paragraph or point, with its lead-in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fabriek.compliance.search.corpus import Unit
from fabriek.compliance.search.index import Hit
from fabriek.compliance.search.text import Lang, terms

_SUBPOINT = re.compile(r"^  \(?([a-z]{1,3})\)\s")
MAX_QUOTE = 1200  # characters; longer paragraphs are quoted around their best line


@dataclass(frozen=True)
class RankParams:
    """Tuned on the development half of tests/compliance/eval/questions.yaml only."""

    candidates: int = 200             # BM25 and semantic candidates, each
    expand: bool = True               # add the glossary's Act words for plain words
    split_compounds: bool = True      # search the parts of unknown compound words too
    semantic_weight: float = 0.5      # share of the semantic score in the fused one
    second_unit_weight: float = 0.15  # an item whose second unit matches too ranks a bit higher


# From a grid search on the development half (BENCHMARKS.md). The embedding model is trained on
# English, so Dutch gets a small semantic share: more made the Dutch development half worse.
# Splitting compounds is for Dutch, which writes them as one word (no change on English dev).
DEFAULT_PARAMS: dict[Lang, RankParams] = {
    "en": RankParams(semantic_weight=0.5, second_unit_weight=0.15, split_compounds=False),
    "nl": RankParams(semantic_weight=0.2, second_unit_weight=0.3),
}


@dataclass(frozen=True)
class Ranked:
    unit_id: int
    score: float


def _min_max(values: dict[int, float]) -> dict[int, float]:
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    span = high - low
    return {k: (v - low) / span if span > 0 else 1.0 for k, v in values.items()}


def fuse(hits: Sequence[Hit], similarities: Sequence[float] | None,
         params: RankParams) -> list[Ranked]:
    """Units by fused score: BM25 alone, or BM25 and cosine, each scaled to 0..1 over the
    candidates (the BM25 top and the semantic top), then weighted."""
    bm25 = {h.unit_id: h.score for h in hits}
    if similarities is None:
        return [Ranked(h.unit_id, h.score) for h in hits]
    order = sorted(range(len(similarities)), key=lambda i: similarities[i], reverse=True)
    candidates = set(bm25) | set(order[:params.candidates])
    lexical = {i: bm25.get(i, 0.0) for i in candidates}
    top = max(lexical.values(), default=0.0)
    lexical = {i: v / top if top > 0 else 0.0 for i, v in lexical.items()}
    semantic = _min_max({i: float(similarities[i]) for i in candidates})
    w = params.semantic_weight
    fused = [Ranked(i, (1 - w) * lexical[i] + w * semantic[i]) for i in candidates]
    fused.sort(key=lambda r: (-r.score, r.unit_id))
    return fused


def rank_items(ranked: Sequence[Ranked], units: Sequence[Unit],
               params: RankParams) -> list[tuple[str, Ranked, float]]:
    """Items (articles, annexes, recitals) by their best unit's score plus a little of the
    second best: (item id, best unit, item score), best first."""
    best: dict[str, list[Ranked]] = {}
    for r in ranked:
        best.setdefault(units[r.unit_id].item_id, []).append(r)
    items = []
    for item_id, rs in best.items():
        rs.sort(key=lambda r: -r.score)
        second = rs[1].score if len(rs) > 1 else 0.0
        items.append((item_id, rs[0], rs[0].score + params.second_unit_weight * second))
    items.sort(key=lambda t: (-t[2], t[1].unit_id))
    return items


@dataclass(frozen=True)
class Quote:
    citation: str
    text: str
    excerpt: bool  # True when part of the paragraph is left out (other points, long lines)


def _overlap(text: str, wanted: set[str], lang: Lang) -> int:
    return len(wanted.intersection(terms(text, lang)))


def quote(unit: Unit, question_terms: Sequence[str]) -> Quote:
    """The unit's text, after its lead-in where it is a point; an annex point listing
    sub-points is narrowed to the one that clearly matches best; capped around its best line."""
    wanted = set(question_terms)
    if unit.kind == "annex":
        narrowed = _annex_subpoint(unit, wanted)
        if narrowed is not None:
            return narrowed
    body = f"{unit.lead}\n…\n{unit.text}" if unit.lead else unit.text
    capped = _cap(body, wanted, unit.lang)
    return Quote(unit.citation, capped, bool(unit.lead) or capped != body)


def _annex_subpoint(unit: Unit, wanted: set[str]) -> Quote | None:
    """'Annex III, point 1(c)' with the point's heading, when one sub-point shares more of the
    question's words than any other; None when no sub-point stands out."""
    head: list[str] = []
    subs: list[tuple[str, list[str]]] = []
    for line in unit.text.split("\n"):
        match = _SUBPOINT.match(line)
        if match:
            subs.append((match.group(1), [line]))
        elif subs:
            subs[-1][1].append(line)
        else:
            head.append(line)
    if len(subs) < 2 or not head:
        return None
    scored = sorted(((_overlap("\n".join(lines), wanted, unit.lang), letter, lines)
                     for letter, lines in subs), key=lambda t: -t[0])
    (best, letter, lines), runner_up = scored[0], scored[1][0]
    if best == 0 or best == runner_up:
        return None
    citation = (f"{unit.citation}({letter})" if unit.lang == "en"
                else f"{unit.citation}, onder {letter})")
    return Quote(citation, _cap("\n".join([*head, "…", *lines]), wanted, unit.lang), True)


def _cap(text: str, wanted: set[str], lang: Lang) -> str:
    """Text of at most MAX_QUOTE characters: the first line and the best-matching line."""
    if len(text) <= MAX_QUOTE:
        return text
    lines = text.split("\n")
    best = max(range(len(lines)), key=lambda i: (_overlap(lines[i], wanted, lang), -i))
    chosen = [lines[0]] if best == 0 else [lines[0], "…", lines[best]]
    out = "\n".join(chosen)
    if len(out) > MAX_QUOTE:
        out = out[:MAX_QUOTE].rsplit(" ", 1)[0] + " …"
    return out
