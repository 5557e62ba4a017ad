"""Which provision each recital explains, derived from the text (pure).

Recitals say in plain words why a provision exists, which is often how people ask; but a
person wants the provision. The Act rarely names the article a recital explains, so each
recital is mapped to the article or annex whose closest unit is most like it by TF-IDF cosine
over stemmed words (computed once, when the index is built, from the English text: its
stemmer is the better one and the item ids are the same in every language). A recital that
matches a question then lifts the provision it explains (ranking.rank_items).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from fabriek.compliance.search.corpus import Unit
from fabriek.compliance.search.text import Lang, terms


def _vectors(units: Sequence[Unit], lang: Lang) -> list[dict[str, float]]:
    bags = [Counter(terms(f"{u.title}\n{u.lead}\n{u.text}", lang)) for u in units]
    df = Counter(t for bag in bags for t in bag)
    n = len(bags)
    vectors = []
    for bag in bags:
        v = {t: (1 + math.log(c)) * math.log(n / df[t]) for t, c in bag.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vectors.append({t: x / norm for t, x in v.items()})
    return vectors


def recital_provisions(units: Sequence[Unit], lang: Lang = "en") -> dict[str, str]:
    """Recital id → the article or annex it is most like ("Recital 44" → "Article 5")."""
    vectors = _vectors(units, lang)
    # An inverted index of the provisions' units, so each recital meets only units sharing a term.
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, u in enumerate(units):
        if u.kind != "recital":
            for t, x in vectors[i].items():
                postings.setdefault(t, []).append((i, x))
    explains: dict[str, str] = {}
    for i, u in enumerate(units):
        if u.kind != "recital":
            continue
        dots: dict[int, float] = {}
        for t, x in vectors[i].items():
            for j, y in postings.get(t, ()):
                dots[j] = dots.get(j, 0.0) + x * y
        if dots:
            best = max(dots, key=lambda j: (dots[j], -j))
            explains[u.item_id] = units[best].item_id
    return explains
