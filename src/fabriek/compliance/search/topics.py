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

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, RootModel, field_validator

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
        distinct = list(dict.fromkeys(t for t in query_terms if t))
        if not distinct:
            return {}
        match = " OR ".join(f'"{t}"' for t in distinct)
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, bm25(topics) FROM topics WHERE topics MATCH ?", (match,)
            ).fetchall()
        return {self.items[row - 1][0]: -rank for row, rank in rows}

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
