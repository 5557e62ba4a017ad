"""The answer to a question about the AI Act, as the API returns it and the CLI shows it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["full-text", "full-text+semantic"]

DISCLAIMER = (
    "Not legal advice. Quotes are from Regulation (EU) 2024/1689 as published in the "
    "Official Journal (OJ L, 2024/1689, 12.7.2024), without later corrigenda; only "
    "the Official Journal is authentic. © European Union, https://eur-lex.europa.eu/"
)


class Passage(BaseModel):
    rank: int = Field(description="1 is the best match.")
    item: str = Field(
        description="Language-independent id: 'Article 5', 'Annex III', 'Recital 44'."
    )
    kind: Literal["article", "annex", "recital"]
    label: str = Field(description="The item in the answer's language: 'Artikel 5'.")
    title: str
    citation: str = Field(description="What is quoted: 'Article 5(1)(f)', 'Annex III, point 4'.")
    quote: str = Field(
        description="The best-matching paragraph or point, verbatim ('…' marks left-out lines)."
    )
    excerpt: bool = Field(description="True when the quote leaves out part of the paragraph.")
    link: str = Field(description="The item on EUR-Lex.")
    score: float


class ActAnswer(BaseModel):
    question: str
    lang: Literal["en", "nl"]
    language: str = Field(description="Why this language: given, or how it was detected.")
    mode: Mode = Field(description="Ranking used: full text only, or with semantic re-ranking.")
    mode_note: str
    results: list[Passage] = Field(description="Articles and annex points, best first.")
    recitals: list[Passage] = Field(description="Recitals that explain them (not binding).")
    disclaimer: str = DISCLAIMER
