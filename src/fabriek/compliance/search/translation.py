"""Dutch → English term translation learned from the Act's own parallel text (pure apart
from the cache file).

The Act is published in every official language with the same structure, so each Dutch
retrieval unit has an English twin at the same position (same article, paragraph and point).
IBM Model 1 (Brown et al., 1993) is trained by expectation-maximisation on these pairs of
stemmed, stop-word-free units, plus the pairs of item titles: it learns t(english | dutch), the
probability that a Dutch stem is rendered by an English one ("verbod" → "prohibit"). A Dutch
question is then also searched in English: its terms are replaced by their likely English
terms (for BM25) and by a readable English pseudo-question (for the English sentence
embeddings, which know little Dutch).

The table is built once, with the index, and cached in the cache directory under a key made of
both texts' hashes, this module's TRANSLATION_VERSION and the stemmer's version.

Model 1 is a few numpy passes (about 1 s for the Act); NLTK's `IBMModel1` would have added
NLTK (a large dependency, not otherwise used) to the core install, in plain Python loops that
take ten times as long, and the search must work without extras.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import snowballstemmer

from fabriek.compliance.search.corpus import Unit, load_units, text_hash
from fabriek.compliance.search.text import terms, words

TRANSLATION_VERSION = "1"
ITERATIONS = 8  # EM rounds; the table barely changes after about six
KEEP = 4  # English terms kept per Dutch term
MIN_PROBABILITY = 0.05
_NULL = ""  # the empty Dutch word: English words with no counterpart align to it


def cache_key() -> str:
    parts = [
        text_hash("nl"),
        text_hash("en"),
        TRANSLATION_VERSION,
        getattr(snowballstemmer, "__version__", "?"),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def table_path(cache_dir: Path) -> Path:
    return cache_dir / f"act-translation-nl-en-{cache_key()}.json"


def _unit_text(unit: Unit) -> str:
    return f"{unit.lead}\n{unit.text}"


def sentence_pairs(
    dutch: Sequence[Unit], english: Sequence[Unit]
) -> list[tuple[list[str], list[str]]]:
    """(Dutch stems, English stems) of each aligned unit and of each item's title. The units
    pair by position (the Dutch text numbers one paragraph of Article 73 differently)."""
    if len(dutch) != len(english) or any(
        (d.item_id, d.kind) != (e.item_id, e.kind) for d, e in zip(dutch, english, strict=True)
    ):
        raise ValueError("the Dutch and English units are not aligned one to one")
    pairs: list[tuple[list[str], list[str]]] = []
    titles: dict[str, tuple[str, str]] = {}
    for d, e in zip(dutch, english, strict=True):
        pairs.append((terms(_unit_text(d), "nl"), terms(_unit_text(e), "en")))
        if d.title and e.title:
            titles.setdefault(d.item_id, (d.title, e.title))
    pairs.extend((terms(d, "nl"), terms(e, "en")) for d, e in titles.values())
    return [(d, e) for d, e in pairs if d and e]


def ibm_model1(
    pairs: Sequence[tuple[list[str], list[str]]], iterations: int = ITERATIONS
) -> dict[str, dict[str, float]]:
    """t(english | dutch) by IBM Model 1 EM, started uniform; token types weighted by count.

    Vectorised over every (pair, English type, Dutch type) co-occurrence (about 3 million for
    the Act): one EM round is a handful of numpy passes instead of seconds of Python loops."""
    dutch_ids: dict[str, int] = {_NULL: 0}
    english_ids: dict[str, int] = {}
    e_col: list[np.ndarray] = []
    f_col: list[np.ndarray] = []
    en_col: list[np.ndarray] = []
    fn_col: list[np.ndarray] = []
    g_col: list[np.ndarray] = []  # which (pair, English type) each entry belongs to
    groups = 0
    for d, e in pairs:
        sources = Counter(d)
        f_ids = np.array([0, *(dutch_ids.setdefault(f, len(dutch_ids)) for f in sources)])
        f_n = np.array([1, *sources.values()], dtype=np.float64)
        targets = Counter(e)
        e_ids = np.array([english_ids.setdefault(w, len(english_ids)) for w in targets])
        e_n = np.array(list(targets.values()), dtype=np.float64)
        e_col.append(np.repeat(e_ids, len(f_ids)))
        en_col.append(np.repeat(e_n, len(f_ids)))
        f_col.append(np.tile(f_ids, len(e_ids)))
        fn_col.append(np.tile(f_n, len(e_ids)))
        g_col.append(np.repeat(np.arange(groups, groups + len(e_ids)), len(f_ids)))
        groups += len(e_ids)
    e_all, f_all = np.concatenate(e_col), np.concatenate(f_col)
    e_n_all, f_n_all = np.concatenate(en_col), np.concatenate(fn_col)
    # Each English token of a pair spreads its count over that pair's Dutch types.
    group = np.concatenate(g_col)
    keys, key_of = np.unique(e_all * len(dutch_ids) + f_all, return_inverse=True)
    key_f = keys % len(dutch_ids)
    t = np.full(len(keys), 1.0 / len(english_ids))
    for _ in range(iterations):
        weights = f_n_all * t[key_of]
        scale = e_n_all / np.bincount(group, weights)[group]
        counts = np.bincount(key_of, weights * scale, minlength=len(keys))
        t = counts / np.bincount(key_f, counts)[key_f]
    dutch_words, english_words = list(dutch_ids), list(english_ids)
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for key, p in zip(keys.tolist(), t.tolist(), strict=True):
        e, f = divmod(key, len(dutch_ids))
        if f != 0 and p >= MIN_PROBABILITY:
            table[dutch_words[f]][english_words[e]] = p
    return {f: dict(sorted(es.items(), key=lambda kv: -kv[1])[:KEEP]) for f, es in table.items()}


def surface_forms(units: Sequence[Unit]) -> dict[str, str]:
    """Each English stem's most frequent word in the text ('prohibit' → 'prohibited')."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for u in units:
        for w in words(_unit_text(u)):
            stems = terms(w, "en", keep_stop_words=True)
            if stems:
                seen[stems[0]][w] += 1
    return {stem: c.most_common(1)[0][0] for stem, c in seen.items()}


@dataclass(frozen=True)
class Translation:
    """The English side of a Dutch question."""

    terms: list[str]  # English stems for BM25, best translations first
    weights: dict[str, float]  # each stem's summed probability over the question's terms
    pseudo_question: str  # readable English words, in the question's order


class TranslationTable:
    def __init__(self, table: dict[str, dict[str, float]], surface: dict[str, str]) -> None:
        self.table, self.surface = table, surface

    @classmethod
    def open(cls, cache_dir: Path) -> TranslationTable:
        """The cached table, learned from the packaged texts first when missing or stale."""
        path = table_path(cache_dir)
        if not path.exists():
            english = load_units("en")
            table = ibm_model1(sentence_pairs(load_units("nl"), english))
            _write_atomically(path, {"table": table, "surface": surface_forms(english)})
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["table"], data["surface"])

    def translate(
        self, dutch_terms: Sequence[str], *, min_probability: float = 0.2, per_term: int = 2
    ) -> Translation:
        """English terms for Dutch stems: each term's translations above `min_probability`
        (at most `per_term`, always its best one); a term the table does not know is kept
        as it is when English uses it too ('chatbot', 'gpai')."""
        weights: dict[str, float] = {}
        ordered: list[str] = []
        for f in dict.fromkeys(dutch_terms):
            options = self.table.get(f)
            if not options:
                chosen = [(f, 1.0)] if f in self.surface else []
            else:
                ranked = list(options.items())
                chosen = [ranked[0]] + [
                    (e, p) for e, p in ranked[1:per_term] if p >= min_probability
                ]
            for e, p in chosen:
                if e not in weights:
                    ordered.append(e)
                weights[e] = weights.get(e, 0.0) + p
        pseudo = " ".join(self.surface.get(e, e) for e in ordered)
        return Translation(ordered, weights, pseudo)


def _write_atomically(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    for old in path.parent.glob("act-translation-nl-en-*.json"):
        if old != path:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
