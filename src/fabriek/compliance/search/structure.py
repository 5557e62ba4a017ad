"""Which provision each recital explains, and which provisions each unit refers to, derived
from the text (pure).

Recitals say in plain words why a provision exists, which is often how people ask; but a
person wants the provision. The Act rarely names the article a recital explains, so each
recital is mapped to the article or annex whose closest unit is most like it by TF-IDF cosine
over stemmed words (computed once, when the index is built, from the English text: its
stemmer is the better one and the item ids are the same in every language). A recital that
matches a question then lifts the provision it explains (ranking.rank_items).

Provisions also name each other: Article 6(1) applies "the Union harmonisation legislation
listed in Annex I", Article 53(1)(b) the information "set out in Annex XII", Article 52 the
"condition referred to in Article 51(1)". A unit that matches a question lifts the provisions it
refers to a little: the one that holds the details is then found with the one that points to it.
"""

from __future__ import annotations

import math
import re
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


# "Article 6(1)", "Articles 8 to 15", "Articles 16, 17 and 18", "Annex III", "Annexes VIII to X";
# not "Article 6 of Regulation (EU) 2016/679" nor "Annex I to Directive …" (other acts).
_JOIN = r"(?:,\s*|\s+and\s+|\s+or\s+|\s+to\s+)"
_ARTICLES = re.compile(
    rf"\bArticles?\s+(\d+(?:\(\w+\))*(?:{_JOIN}\d+(?:\(\w+\))*)*)(\s+of\s+(?!this\b)\S+)?"
)
_ANNEXES = re.compile(rf"\bAnnex(?:es)?\s+([IVX]+(?:{_JOIN}[IVX]+)*)(\s+to\s+(?!this\b)\S+)?")
_ROMAN = {"I": 1, "V": 5, "X": 10}


def _from_roman(numeral: str) -> int:
    values = [_ROMAN[ch] for ch in numeral]
    return sum(-v if i + 1 < len(values) and values[i + 1] > v else v for i, v in enumerate(values))


def _to_roman(number: int) -> str:
    out = ""
    for value, numeral in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while number >= value:
            out, number = out + numeral, number - value
    return out


def references(text: str) -> list[str]:
    """The articles and annexes of this Regulation an English text names, in order, once each."""
    found: list[str] = []
    for match in _ARTICLES.finditer(text):
        if match.group(2):
            continue
        numbers = [int(n) for n in re.findall(rf"(?:^|{_JOIN})(\d+)", match.group(1))]
        if " to " in match.group(1) and len(numbers) == 2 and numbers[0] < numbers[1]:
            numbers = list(range(numbers[0], numbers[1] + 1))
        found.extend(f"Article {n}" for n in numbers)
    for match in _ANNEXES.finditer(text):
        if match.group(2):
            continue
        numerals = re.findall(r"[IVX]+", match.group(1))
        if " to " in match.group(1) and len(numerals) == 2:
            low, high = _from_roman(numerals[0]), _from_roman(numerals[1])
            numerals = [_to_roman(n) for n in range(low, high + 1)]
        found.extend(f"Annex {n}" for n in numerals)
    return list(dict.fromkeys(found))


def unit_references(units: Sequence[Unit]) -> list[list[str]]:
    """For each unit (of the English text), the other items of the Act it refers to. The ids
    are the same in every language and the units align by position, so one list serves both."""
    known = {u.item_id for u in units}
    return [
        [r for r in references(f"{u.lead}\n{u.text}") if r != u.item_id and r in known]
        for u in units
    ]
