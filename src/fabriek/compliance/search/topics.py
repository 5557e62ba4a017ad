"""Everyday words per provision (data: topics.yaml, checked at load), as one more signal.

People ask in their own words ("we sell a chatbot", "boete", "ons personeel scholen"); the
Act's text says "interact directly with natural persons", "administrative fines", "AI
literacy". topics.yaml lists, per article and annex, the plain words and the situations that
lead a person there, in English and in Dutch. Each provision's words are one document of a
small BM25 index (SQLite FTS5 in memory, the same stemming as the Act's index); a question's
score against them lifts the provision (ranking.rank_items). Unlike the glossary, which adds
Act words to the question, this adds people's words to the provisions.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, RootModel, field_validator

from fabriek.compliance.search.index import any_of
from fabriek.compliance.search.semantic import save_atomically
from fabriek.compliance.search.text import LANGS, Lang, terms

MAX_PHRASE = 80  # characters


class Phrases(BaseModel):
    model_config = ConfigDict(extra="forbid")

    en: list[str]
    nl: list[str]

    @field_validator("en", "nl")
    @classmethod
    def _phrases(cls, phrases: list[str]) -> list[str]:
        if not phrases:
            raise ValueError("at least one phrase")
        for phrase in phrases:
            if not phrase.strip():
                raise ValueError("a phrase is empty")
            if len(phrase) > MAX_PHRASE:
                raise ValueError(f"{phrase[:30]!r}…: a phrase has at most {MAX_PHRASE} characters")
        return phrases


class TopicsFile(RootModel[dict[str, Phrases]]):
    @field_validator("root")
    @classmethod
    def _item_ids(cls, items: dict[str, Phrases]) -> dict[str, Phrases]:
        for item_id in items:
            kind, _, number = item_id.partition(" ")
            if kind not in ("Article", "Annex") or not number:
                raise ValueError(f"{item_id!r}: keys are 'Article N' or 'Annex N'")
        return items


def parse(text: str) -> dict[str, Phrases]:
    return TopicsFile.model_validate(yaml.safe_load(text)).root


@lru_cache(maxsize=1)
def load() -> dict[str, Phrases]:
    return parse(resources.files(__package__).joinpath("topics.yaml").read_text(encoding="utf-8"))


class TopicIndex:
    """One language's provisions as documents of their everyday words, searched with BM25."""

    def __init__(self, lang: Lang, topics: dict[str, Phrases] | None = None) -> None:
        if lang not in LANGS:
            raise ValueError(f"no topics for language {lang!r}")
        self.lang = lang
        self.items = list((topics if topics is not None else load()).items())
        # :memory: databases are private to their connection; one connection, guarded.
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("CREATE VIRTUAL TABLE topics USING fts5(words, content='')")
        self._db.executemany(
            "INSERT INTO topics (rowid, words) VALUES (?, ?)",
            [
                (row, " ".join(terms("\n".join(getattr(phrases, lang)), lang)))
                for row, (_, phrases) in enumerate(self.items, start=1)
            ],
        )

    def search(self, query_terms: Sequence[str]) -> dict[str, float]:
        """Provision id → BM25 score (higher is better) of those sharing a term with the query."""
        match = any_of(query_terms)
        if match is None:
            return {}
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, bm25(topics) FROM topics WHERE topics MATCH ?", (match,)
            ).fetchall()
        return {self.items[row - 1][0]: -rank for row, rank in rows}


def blend(
    lexical: Mapping[str, float], similarity: Mapping[str, float], share: float
) -> dict[str, float]:
    """One topic score per provision: (1 - share) × its BM25 over the best BM25 plus share ×
    its cosine scaled min-max over the provisions (pure)."""
    top = max(lexical.values(), default=0.0)
    low, high = min(similarity.values(), default=0.0), max(similarity.values(), default=0.0)
    span = high - low
    out = {item: (1 - share) * score / top for item, score in lexical.items() if top > 0}
    for item, cosine in similarity.items():
        scaled = (cosine - low) / span if span > 0 else 0.0
        out[item] = out.get(item, 0.0) + share * scaled
    return out


class TopicVectors:
    """The English phrases embedded (cached beside the indexes), and per provision the best
    cosine of one of its phrases with a question's vector."""

    def __init__(self, items: list[str], owners: Any, vectors: Any) -> None:
        self.items, self._owners, self.vectors = items, owners, vectors

    @classmethod
    def open(
        cls, encoder: Any, cache_dir: Path, topics: dict[str, Phrases] | None = None
    ) -> TopicVectors:
        import numpy as np

        chosen = topics if topics is not None else load()
        items = list(chosen)
        phrases = [(i, p) for i, item in enumerate(items) for p in chosen[item].en]
        key = hashlib.sha256(
            "\n".join(f"{items[i]}\t{p}" for i, p in phrases).encode() + encoder.name.encode()
        ).hexdigest()[:16]
        path = cache_dir / f"act-topics-en-{key}.npy"
        if path.exists():
            vectors = np.load(path)
        else:
            vectors = encoder.encode([p for _, p in phrases]).astype(np.float32)
            cache_dir.mkdir(parents=True, exist_ok=True)
            save_atomically(path, vectors, replacing="act-topics-en-*.npy")
        owners = np.array([i for i, _ in phrases])
        return cls(items, owners, vectors)

    def similarities(self, query: Any) -> dict[str, float]:
        import numpy as np

        cosines = self.vectors @ query
        best = np.full(len(self.items), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owners, cosines)
        return {item: float(best[i]) for i, item in enumerate(self.items)}
