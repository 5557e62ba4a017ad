"""Query expansion from plain words to the Act's words (data: glossary.yaml, checked at load).

An entry applies when all the stemmed words of its key, its short common words included, are
among the question's stemmed words; its value's stemmed words are then searched as well. The
common words count so that a key is a phrase, not its one meaningful word: "start-up" needs
"up" as well as "start" ("when did the bans start?" is not about start-ups), "al op de markt"
more than "markt". Pure apart from reading the file.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from fabriek.compliance.search.text import Lang, terms


class GlossaryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    en: dict[str, str]
    nl: dict[str, str]

    @field_validator("en", "nl")
    @classmethod
    def _not_empty(cls, entries: dict[str, str]) -> dict[str, str]:
        for key, value in entries.items():
            if not key.strip() or not value.strip():
                raise ValueError(f"entry {key!r}: key and value must both have words")
        return entries


Expansion = tuple[tuple[frozenset[str], tuple[str, ...]], ...]


def parse(text: str) -> GlossaryFile:
    return GlossaryFile.model_validate(yaml.safe_load(text))


@lru_cache(maxsize=2)
def expansions(lang: Lang) -> Expansion:
    data = parse(resources.files(__package__).joinpath("glossary.yaml").read_text(encoding="utf-8"))
    entries: dict[str, str] = getattr(data, lang)
    out = []
    for key, value in entries.items():
        if not terms(key, lang):
            raise ValueError(f"glossary.yaml {lang} entry {key!r} has only stop words")
        key_terms = frozenset(terms(key, lang, keep_stop_words=True))
        out.append((key_terms, tuple(terms(value, lang))))
    return tuple(out)


def expand(question_terms: list[str], lang: Lang, *, question: str | None = None) -> list[str]:
    """The extra terms the glossary adds for these question terms (none already asked).
    `question`, the question's text, lets keys with common words ("start-up") match; without it
    only the question terms are looked at, so such keys never match."""
    present = set(question_terms)
    if question is not None:
        present.update(terms(question, lang, keep_stop_words=True))
    extra: list[str] = []
    for key_terms, value_terms in expansions(lang):
        if key_terms <= present:
            extra.extend(t for t in value_terms if t not in present and t not in extra)
    return extra
