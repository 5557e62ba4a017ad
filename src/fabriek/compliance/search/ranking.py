"""Ranking (pure): fuse BM25 with semantic similarity, rank items by their best unit, and
quote that unit: the best-matching paragraph or point, with its lead-in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fabriek.compliance.search.corpus import Unit
from fabriek.compliance.search.index import Hit
from fabriek.compliance.search.text import Lang, terms

_SUBPOINT = re.compile(r"^  \(?([a-z]{1,3})\)\s")
MAX_QUOTE = 1200  # characters; longer paragraphs are quoted around their best line


@dataclass(frozen=True)
class RankParams:
    """Tuned on the tuning sets only: the development half of tests/compliance/eval/
    questions.yaml, questions-dev2.yaml and questions-dev3.yaml (never on split test,
    independent or independent2)."""

    candidates: int = 200  # BM25 and semantic candidates, each
    expand: bool = True  # add the glossary's Act words for plain words
    split_compounds: bool = True  # search the parts of unknown compound words too
    semantic_weight: float = 0.5  # share of the semantic score in the fused one
    second_unit_weight: float = 0.15  # an item whose second unit matches too ranks a bit higher
    # Dutch through English (translation.py): the English BM25 of the translated terms, as a
    # share of the lexical score; the English embeddings of the translated pseudo-question and
    # the pseudo-relevance-feedback vector (the mean English embedding of the twins of the best
    # Dutch BM25 units), as shares of the semantic score. 0 leaves a signal out.
    cross_lexical: float = 0.0
    cross_semantic: float = 0.0
    feedback: float = 0.0
    feedback_depth: int = 5  # Dutch BM25 units whose English twins make the feedback
    recital_lift: float = 0.0  # share of its best recital's score a provision gains
    reference_lift: float = 0.0  # share of the best score of a unit naming it an item gains
    # How signals are put on one scale before they are weighted (combine): "scaled" divides each
    # BM25 by its best and min-max scales each cosine over the candidates; "z" gives every
    # signal mean 0 and standard deviation 1 over the candidates (a unit BM25 did not find
    # counts 0), so one outlying best score does not squash the rest of its signal. "z" applies
    # only where cosines are fused; BM25 rankings alone (Dutch full text) stay "scaled".
    fusion: str = "scaled"
    # Dense pseudo-relevance feedback (service._signals): the question's vector plus
    # rocchio_beta times the mean vector of the rocchio_depth best units of a first fusion,
    # against every unit, as a share of the semantic score. 0 leaves it out.
    rocchio: float = 0.0
    rocchio_depth: int = 3
    rocchio_beta: float = 0.5
    # Everyday words per provision (topics.py): a provision gains topic_lift times the best
    # item score times its topic BM25 divided by the best topic BM25. 0 leaves it out. Full
    # text alone (no re-ranker) has its own weight: its item scores are on another scale.
    topic_lift: float = 0.0
    topic_lift_full_text: float = 0.0
    # With the re-ranker: the share of the topic score from the question's vector against the
    # English phrases' (topics.blend); the rest is the BM25 of its words against its language's.
    topic_semantic: float = 0.0


# From grid searches on the development half, then on dev + dev2 (+ dev3 from the topics round;
# BENCHMARKS.md).
# The embedding model is trained on English, so a Dutch question is also put into English
# (translation.py): a third of its lexical score is the English BM25 of its translated terms, and
# its semantic score (40 %) comes two thirds from the English pseudo-question against the English
# units and one third from the English twins of its 3 best Dutch BM25 units (pseudo-relevance
# feedback, nothing to encode). The Dutch question against the Dutch units added nothing on dev
# once these were in, and it cost a second encoding, so Dutch needs only the English embeddings.
# Splitting compounds is for Dutch, which writes them as one word (no change on English dev). A
# provision gains a fifth of the score of the best recital explaining it (structure.py): better on
# dev in all four settings (EN/NL, with and without the re-ranker) at 0.2; summing over its
# recitals instead of taking the best one was worse. An item named by a matching unit (Article
# 6(1) names Annex I) gains a tenth of that unit's score: grid 0.05-0.2 on dev + dev2, best at 0.1
# with the re-ranker in both languages (mixed with full text only, BENCHMARKS.md). BM25 and
# cosines are fused as z-scores: re-ranked dev + dev2 EN 0.971/0.831 -> 0.956/0.850, NL
# 0.985/0.794 -> 0.985/0.819 (recall@5); for two BM25 rankings alone it was worse (NL full text
# dev2 0.700 -> 0.675), so there they are still divided by their best. Min-max, RRF (k 10, 60)
# were compared. Dense pseudo-relevance feedback (the question's vector + half the mean vector of
# the 3 best units of a first fusion; grid 0 / 0.5 / 1 of the semantic score): EN dev/dev2
# 0.956/0.850 -> 0.985/0.863 at 1; NL recall unchanged, MRR dev2 0.657 -> 0.676 at 0.5 (dev 0.874
# -> 0.859). Everyday words per provision (topics.py, written without sight of any question),
# first on dev + dev2 and then, with a third blind tuning set (dev3, 80 questions), on all three
# pooled (recall@5 / MRR over 194 questions): re-ranked EN topic_lift 0.8 (dev2 0.863 -> 0.944;
# 0.6 and 1.0 pooled lower); NL topic_lift 0.7 with the semantic share 0.65 -> 0.4 (pooled
# 0.884 -> 0.905, MRR 0.756 -> 0.788; dev + dev2 alone had picked 0.2, which dev3 did not bear
# out: 0.844 vs 0.919); full text alone EN 1.0, NL 0.7 (pooled 0.904 and 0.892; 1.5 and 1.0 were
# 0.912 and 0.899, one or two questions more, but put questions in the Act's own words, such as
# "Welke administratieve geldboeten gelden bij inbreuken?", below lay matches). With the
# re-ranker, the English topic score is 85 % the cosine of the question with the provision's
# best English phrase (grid 0.3-1 on dev + dev2: dev2 0.944 -> 0.963, dev MRR 0.853 -> 0.924;
# dev3 0.906 -> 0.944); for Dutch (its English pseudo-question) it was worse at every share
# (dev2 0.881 -> 0.850-0.863), so Dutch keeps the BM25 of its words.
DEFAULT_PARAMS: dict[Lang, RankParams] = {
    "en": RankParams(
        semantic_weight=0.5,
        second_unit_weight=0.15,
        split_compounds=False,
        recital_lift=0.2,
        reference_lift=0.1,
        fusion="z",
        rocchio=1.0,
        topic_lift=0.8,
        topic_lift_full_text=1.0,
        topic_semantic=0.85,
    ),
    "nl": RankParams(
        semantic_weight=0.4,
        second_unit_weight=0.15,
        cross_lexical=0.5,
        cross_semantic=2 / 3,
        feedback=1 / 3,
        feedback_depth=3,
        reference_lift=0.1,
        recital_lift=0.2,
        fusion="z",
        rocchio=0.5,
        topic_lift=0.7,
        topic_lift_full_text=0.7,
    ),
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


def fuse(
    hits: Sequence[Hit], similarities: Sequence[float] | None, params: RankParams
) -> list[Ranked]:
    """Units by fused score: BM25 alone, or BM25 and cosine, each scaled to 0..1 over the
    candidates (the BM25 top and the semantic top), then weighted."""
    if similarities is None:
        return [Ranked(h.unit_id, h.score) for h in hits]
    return combine([(hits, 1.0)], [(similarities, 1.0)], params)


def combine(
    lexical: Sequence[tuple[Sequence[Hit], float]],
    semantic: Sequence[tuple[Sequence[float], float]],
    params: RankParams,
) -> list[Ranked]:
    """Units by a weighted sum of several BM25 rankings (each divided by its best score) and
    several cosine similarity vectors over the units (each scaled min-max over the
    candidates: every BM25 hit and each vector's top). The lexical weights are shares of
    1 - semantic_weight, the semantic ones of semantic_weight. Unit ids must mean the same
    units in every signal (the English and Dutch units are aligned by position)."""
    lexical = [(hits, w) for hits, w in lexical if w > 0]
    semantic = [(sims, w) for sims, w in semantic if w > 0]
    if not semantic and len(lexical) == 1:
        return [Ranked(h.unit_id, h.score) for h in lexical[0][0]]
    candidates: set[int] = set()
    for hits, _ in lexical:
        candidates.update(h.unit_id for h in hits)
    for sims, _ in semantic:
        order = sorted(range(len(sims)), key=lambda i: sims[i], reverse=True)
        candidates.update(order[: params.candidates])
    if params.fusion == "z" and semantic:
        return _z_fused(lexical, semantic, candidates, params)
    scores = dict.fromkeys(candidates, 0.0)
    lexical_total = sum(w for _, w in lexical) or 1.0
    semantic_total = sum(w for _, w in semantic) or 1.0
    semantic_share = params.semantic_weight if semantic else 0.0
    for hits, w in lexical:
        top = max((h.score for h in hits), default=0.0)
        if top > 0:
            share = (1 - semantic_share) * w / lexical_total
            for h in hits:
                scores[h.unit_id] += share * h.score / top
    for sims, w in semantic:
        share = semantic_share * w / semantic_total
        for i, v in _min_max({i: float(sims[i]) for i in candidates}).items():
            scores[i] += share * v
    fused = [Ranked(i, v) for i, v in scores.items()]
    fused.sort(key=lambda r: (-r.score, r.unit_id))
    return fused


def _standard(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / sd if sd > 0 else 0.0 for v in values]


def _z_fused(
    lexical: Sequence[tuple[Sequence[Hit], float]],
    semantic: Sequence[tuple[Sequence[float], float]],
    candidates: set[int],
    params: RankParams,
) -> list[Ranked]:
    """combine() with every signal standardised over the candidates, shifted so that the
    lowest fused score is 0 (the item lifts add shares of scores, which must not be negative)."""
    ids = sorted(candidates)
    position = {unit_id: i for i, unit_id in enumerate(ids)}
    fused = [0.0] * len(ids)
    lexical_total = sum(w for _, w in lexical) or 1.0
    semantic_total = sum(w for _, w in semantic) or 1.0
    semantic_share = params.semantic_weight if semantic else 0.0
    signals: list[tuple[list[float], float]] = []
    for hits, w in lexical:
        values = [0.0] * len(ids)
        for h in hits:
            values[position[h.unit_id]] = h.score
        signals.append((values, (1 - semantic_share) * w / lexical_total))
    for sims, w in semantic:
        signals.append(([float(sims[i]) for i in ids], semantic_share * w / semantic_total))
    for values, share in signals:
        for i, z in enumerate(_standard(values)):
            fused[i] += share * z
    low = min(fused, default=0.0)
    ranked = [Ranked(unit_id, fused[i] - low) for i, unit_id in enumerate(ids)]
    ranked.sort(key=lambda r: (-r.score, r.unit_id))
    return ranked


def rank_items(
    ranked: Sequence[Ranked],
    units: Sequence[Unit],
    params: RankParams,
    explains: Mapping[str, str] | None = None,
    refers: Sequence[Sequence[str]] | None = None,
    topics: Mapping[str, float] | None = None,
) -> list[tuple[str, Ranked, float]]:
    """Items (articles, annexes, recitals) by their best unit's score plus a little of the
    second best, and, with `explains` (recital → provision), plus recital_lift times the
    best score among the recitals explaining it: (item id, best unit, item score), best
    first. A provision lifted only by its recitals is quoted from its first unit. With
    `refers` (per unit id, the items it names), an item that already has a matching unit
    gains reference_lift times the best score among the other units naming it. With `topics`
    (provision → BM25 of the question against its everyday words), a provision gains
    topic_lift times the best item score, times its share of the best topic score."""
    best: dict[str, list[Ranked]] = {}
    for r in ranked:
        best.setdefault(units[r.unit_id].item_id, []).append(r)
    scores: dict[str, tuple[Ranked, float]] = {}
    for item_id, rs in best.items():
        rs.sort(key=lambda r: -r.score)
        second = rs[1].score if len(rs) > 1 else 0.0
        scores[item_id] = (rs[0], rs[0].score + params.second_unit_weight * second)
    if explains and params.recital_lift > 0:
        lifts: dict[str, float] = {}
        for item_id, (_, score) in scores.items():
            target = explains.get(item_id)
            if target is not None:
                lifts[target] = max(lifts.get(target, 0.0), score)
        first = _first_units(units)
        for target, lift in lifts.items():
            if target not in first:
                continue
            unit, score = scores.get(target, (Ranked(first[target], 0.0), 0.0))
            scores[target] = (unit, score + params.recital_lift * lift)
    if refers and params.reference_lift > 0:
        named: dict[str, float] = {}
        for r in ranked:
            for target in refers[r.unit_id]:
                named[target] = max(named.get(target, 0.0), r.score)
        for target, lift in named.items():
            if target in scores:
                unit, score = scores[target]
                scores[target] = (unit, score + params.reference_lift * lift)
    if topics and params.topic_lift > 0 and scores:
        scale = params.topic_lift * max(score for _, score in scores.values())
        best_topic = max(topics.values())
        first = _first_units(units)
        for target, topic in topics.items():
            if target not in first or best_topic <= 0:
                continue
            unit, score = scores.get(target, (Ranked(first[target], 0.0), 0.0))
            scores[target] = (unit, score + scale * topic / best_topic)
    items = [(item_id, unit, score) for item_id, (unit, score) in scores.items()]
    items.sort(key=lambda t: (-t[2], t[1].unit_id))
    return items


def _first_units(units: Sequence[Unit]) -> dict[str, int]:
    """Item id → its first unit's id (where an item lifted without a matching unit is quoted)."""
    first: dict[str, int] = {}
    for i, u in enumerate(units):
        first.setdefault(u.item_id, i)
    return first


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
    scored = sorted(
        ((_overlap("\n".join(lines), wanted, unit.lang), letter, lines) for letter, lines in subs),
        key=lambda t: -t[0],
    )
    (best, letter, lines), runner_up = scored[0], scored[1][0]
    if best == 0 or best == runner_up:
        return None
    citation = (
        f"{unit.citation}({letter})" if unit.lang == "en" else f"{unit.citation}, onder {letter})"
    )
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
