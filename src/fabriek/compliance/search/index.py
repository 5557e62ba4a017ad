"""The full-text index: SQLite FTS5 with BM25 over stemmed units, one file per language.

The file is built once and kept in the cache directory under a name that carries a key made
of the Act text's SHA-256, this module's INDEX_VERSION and the stemmer's version, so a changed
text or a changed way of indexing is a different file and is rebuilt; older files are removed.
Building writes a temporary file and renames it into place, so a reader never sees half an
index and two processes building at once both end with a whole one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

import snowballstemmer

from fabriek.compliance.search.corpus import Unit, load_units, text_hash
from fabriek.compliance.search.structure import recital_provisions, unit_references
from fabriek.compliance.search.text import Lang, terms, words

# Bump when units, terms or the schema change: old cache files are then rebuilt.
INDEX_VERSION = "7"

# BM25 column weights: a word in the item's title counts five times one in the body; chapter
# and section headings a little more than the body (tuned on the development half only).
WEIGHTS = {"title": 5.0, "context": 1.5, "body": 1.0}

_UNIT_COLUMNS = [f.name for f in fields(Unit)]


def fts5_available() -> bool:
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        try:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        except sqlite3.OperationalError:
            return False
    return True


def cache_key(lang: Lang) -> str:
    # The English text too: the recital → provision map is derived from it for both languages.
    parts = [
        text_hash(lang),
        text_hash("en"),
        INDEX_VERSION,
        getattr(snowballstemmer, "__version__", "?"),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def index_path(cache_dir: Path, lang: Lang) -> Path:
    return cache_dir / f"act-index-{lang}-{cache_key(lang)}.sqlite"


@dataclass(frozen=True)
class Hit:
    unit_id: int  # position in FullTextIndex.units
    score: float  # BM25, higher is better


class FullTextIndex:
    """One language's index: the units in memory, FTS5 on disk, a connection per thread."""

    def __init__(
        self,
        path: Path,
        lang: Lang,
        units: list[Unit],
        explains: dict[str, str] | None = None,
        refers: list[list[str]] | None = None,
    ) -> None:
        self.path, self.lang, self.units = path, lang, units
        # Recital id → the provision it explains, and per unit the items it refers to
        # (structure.py), stored with the index.
        self.explains = explains or {}
        self.refers = refers or [[] for _ in units]
        self._local = threading.local()
        # Surface words of the text with their counts, for splitting a question's compounds.
        self.vocabulary: Counter[str] = Counter(
            w for u in units for w in words(f"{u.title}\n{u.lead}\n{u.text}")
        )

    @classmethod
    def open(cls, cache_dir: Path, lang: Lang) -> FullTextIndex:
        """The cached index for `lang`, built first when missing or stale."""
        if not fts5_available():
            raise RuntimeError("this Python's SQLite has no FTS5; the Act search needs it")
        path = index_path(cache_dir, lang)
        if not path.exists():
            build(path, lang, load_units(lang))
        units = _read_units(path, lang)
        return cls(path, lang, units, _read_meta(path, "explains", {}), _read_meta(path, "refers"))

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._local.db = db
        return db

    def search(self, query_terms: Sequence[str], k: int) -> list[Hit]:
        """The best `k` units containing any of the terms, by BM25 with boosted titles."""
        match = any_of(query_terms)
        if match is None:
            return []
        w = WEIGHTS
        rows = (
            self._db()
            .execute(
                "SELECT rowid, bm25(fts, ?, ?, ?) AS rank FROM fts WHERE fts MATCH ? "
                "ORDER BY rank LIMIT ?",
                (w["title"], w["context"], w["body"], match, k),
            )
            .fetchall()
        )
        return [Hit(rowid - 1, -rank) for rowid, rank in rows]


def any_of(query_terms: Sequence[str]) -> str | None:
    """An FTS5 query matching any of the terms (each quoted, so no term is read as an
    operator), or None when there are none."""
    distinct = list(dict.fromkeys(t for t in query_terms if t))
    return " OR ".join(f'"{t}"' for t in distinct) if distinct else None


def _stemmed(text: str, lang: Lang) -> str:
    return " ".join(terms(text, lang, keep_stop_words=False))


def build(
    path: Path,
    lang: Lang,
    units: list[Unit],
    explains: dict[str, str] | None = None,
    refers: list[list[str]] | None = None,
) -> None:
    """Write the index for `units` to `path` atomically and remove older ones beside it, with
    the recital → provision map and each unit's references to other items (by default derived
    from the English text, whose units align with every language's)."""
    if explains is None or refers is None:
        english = load_units("en")
        if explains is None:
            explains = recital_provisions(english)
        if refers is None:
            refers = unit_references(english) if len(english) == len(units) else None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(tmp)) as db:
            cols = ", ".join(_UNIT_COLUMNS)
            db.execute(f"CREATE TABLE units (id INTEGER PRIMARY KEY, {cols})")
            db.execute(
                "CREATE VIRTUAL TABLE fts USING fts5(title, context, body, content='', "
                "tokenize='unicode61 remove_diacritics 2')"
            )
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            marks = ", ".join("?" for _ in _UNIT_COLUMNS)
            for rowid, unit in enumerate(units, start=1):
                db.execute(
                    f"INSERT INTO units (id, {cols}) VALUES (?, {marks})", (rowid, *astuple(unit))
                )
                db.execute(
                    "INSERT INTO fts (rowid, title, context, body) VALUES (?, ?, ?, ?)",
                    (
                        rowid,
                        _stemmed(unit.title, lang),
                        _stemmed(unit.context, lang),
                        _stemmed(f"{unit.lead}\n{unit.text}", lang),
                    ),
                )
            db.execute("INSERT INTO fts (fts) VALUES ('optimize')")
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("lang", lang),
                    ("key", path.stem),
                    ("units", str(len(units))),
                    ("explains", json.dumps(explains, sort_keys=True)),
                    ("refers", json.dumps(refers)),
                ],
            )
            db.commit()
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared by the server's users
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    for old in path.parent.glob(f"act-index-{lang}-*.sqlite"):
        if old != path:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def _read_meta(path: Path, key: str, default: Any = None) -> Any:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    value = json.loads(row[0]) if row else None
    return default if value is None else value


def _read_units(path: Path, lang: Lang) -> list[Unit]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute(f"SELECT {', '.join(_UNIT_COLUMNS)} FROM units ORDER BY id").fetchall()
    units = [Unit(*row) for row in rows]
    if any(u.lang != lang for u in units):
        raise RuntimeError(f"{path} is not an index of the {lang} text")
    return units
