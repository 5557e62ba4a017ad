"""An optional Dutch → English dictionary of everyday words: FreeDict's nld-eng, read from the
Debian package `dict-freedict-nld-eng` when it is installed (pure apart from reading the file).

The term table of translation.py is learned from the Act alone, so it knows only words the Act
uses; a question's everyday Dutch ("ouderen", "trucs", "leger") gets no English from it. The
dictionary fills those gaps when the table is built: for each Dutch stem the table does not
know, its dictionary translations, stemmed like the English index and kept only when the Act's
English text uses them (so the English BM25 and the pseudo-question stay in the Act's words).

The files are in dictd format: `<name>.index` has one line per headword, tab-separated
headword, offset and length of its entry in `<name>.dict.dz` (dictzip, which gzip reads), both
numbers in dictd's base64. An entry is the headword with its pronunciation, then either one
line of translations or numbered senses ("1. child, offspring"), comma- or semicolon-separated.
The dictionary is GPL-2+ (FreeDict contributors) and is never bundled or copied: it is read
from the system package, and only the stems of words the Act uses go into the cached table.
"""

from __future__ import annotations

import gzip
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

# Where Debian's dict-freedict-nld-eng puts it; FABRIEK_NLD_ENG_DICT names another .index file
# (an empty value switches the dictionary off).
DEFAULT_INDEX = Path("/usr/share/dictd/freedict-nld-eng.index")
ENV = "FABRIEK_NLD_ENG_DICT"

MIN_STEM = 4  # Dutch stems shorter than this ("net", "zit", "bot") are left to the Act's table
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64)}
_SENSE = re.compile(r"^\s*\d+\.\s*")
_PRONUNCIATION = re.compile(r"/[^/]*/")


def default_index() -> Path | None:
    """The dictionary's .index file when there is one to use, else None."""
    configured = os.environ.get(ENV)
    if configured is not None:
        return Path(configured) if configured.strip() else None
    return DEFAULT_INDEX if DEFAULT_INDEX.exists() else None


def data_path(index: Path) -> Path:
    """The entries file beside an index: `<name>.dict.dz`, or an uncompressed `<name>.dict`."""
    stem = index.with_suffix("")
    compressed = stem.with_suffix(".dict.dz")
    return compressed if compressed.exists() else stem.with_suffix(".dict")


def fingerprint(index: Path | None) -> str:
    """What changes when the dictionary is installed, removed or updated: for the cache key."""
    if index is None or not index.exists():
        return "none"
    parts = []
    for path in (index, data_path(index)):
        st = path.stat()
        parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def b64_number(text: str) -> int:
    """A number in dictd's base64 (most significant digit first, no padding)."""
    value = 0
    for ch in text:
        value = value * 64 + _B64_VALUE[ch]
    return value


def entries(index: Path) -> Iterator[tuple[str, list[list[str]]]]:
    """(headword, senses) for every entry, each sense a list of translations, best sense
    first; the database's own 00database… entries are skipped."""
    opener = gzip.open if data_path(index).suffix == ".dz" else open
    with opener(data_path(index), "rb") as f:
        data = f.read()
    for line in index.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[0].startswith("00database"):
            continue
        start, length = b64_number(fields[1]), b64_number(fields[2])
        senses = parse_entry(data[start:start + length].decode("utf-8", "replace"))
        if senses:
            yield fields[0], senses


def parse_entry(text: str) -> list[list[str]]:
    """The senses of one entry: the lines after the headword line, a numbered line a sense."""
    senses: list[list[str]] = []
    for line in text.split("\n")[1:]:
        line = _PRONUNCIATION.sub(" ", _SENSE.sub("", line)).strip()
        if line:
            words = [w.strip() for w in re.split(r"[,;]", line)]
            senses.append([w for w in words if w])
    return senses


def translations(
    index: Path,
    dutch_stem: Callable[[str], str],
    english_terms: Callable[[str], Sequence[str]],
    english_vocabulary: set[str] | dict[str, str],
    keep: int = 4,
) -> dict[str, dict[str, float]]:
    """Dutch stem → {English stem: weight} from the dictionary, only English stems in
    `english_vocabulary`, from each headword's first sense that has any (a dictionary lists
    the common sense first; later senses of short words are mostly other words: "net" is
    "neat", then "network", then "just"). Only one-word headwords that begin with their stem
    (so "lenig" is not taken for "lenen", whose stem it shares), of stems of at least
    MIN_STEM letters (the short ones are the most ambiguous); English stems of at least
    3 letters. The weights of a stem's headwords are summed and scaled to sum to 1, the best
    `keep` kept."""
    scores: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for headword, senses in entries(index):
        word = headword.strip().lower()
        if " " in word or "-" in word:
            continue
        f = dutch_stem(word)
        if len(f) < MIN_STEM or not word.startswith(f):
            continue
        for sense in senses:
            stems = [e for t in sense for e in english_terms(t)
                     if len(e) >= 3 and e in english_vocabulary]
            for e in dict.fromkeys(stems):
                scores[f][e] += 1.0 / len(stems)
            if stems:
                break
    table: dict[str, dict[str, float]] = {}
    for f, es in scores.items():
        best = sorted(es.items(), key=lambda kv: (-kv[1], kv[0]))[:keep]
        total = sum(p for _, p in best)
        table[f] = {e: round(p / total, 6) for e, p in best}
    return table
