"""Query expansion from plain words to the Act's words (data: glossary.yaml, checked at load).

An entry applies when all the stemmed words of its key are among the question's stemmed
words; its value's stemmed words are then searched as well. Pure apart from reading the file.
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
        key_terms = frozenset(terms(key, lang))
        if not key_terms:
            raise ValueError(f"glossary.yaml {lang} entry {key!r} has only stop words")
        out.append((key_terms, tuple(terms(value, lang))))
    return tuple(out)


def expand(question_terms: list[str], lang: Lang) -> list[str]:
    """The extra terms the glossary adds for these question terms (none already asked)."""
    present = set(question_terms)
    extra: list[str] = []
    for key_terms, value_terms in expansions(lang):
        if key_terms <= present:
            extra.extend(t for t in value_terms if t not in present and t not in extra)
    return extra
