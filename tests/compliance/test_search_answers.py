"""Questions answered in English and Dutch: ranked items, quotes taken from the cited item,
links, language detection, bad input refused, and the full-text fallback."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabriek.compliance.search import ActAnswer, ActSearch
from fabriek.compliance.search import service as search_service
from fabriek.errors import ValidationFailed
from tests.compliance.search_support import cache_dir, full_text, items

pytestmark = pytest.mark.unit

# Clear questions whose provision a full-text search must already find in the first three.
CLEAR = [
    ("en", "Is emotion recognition of employees in the workplace prohibited?", "Article 5"),
    ("en", "Do providers of AI systems that interact with people have to tell them?", "Article 50"),
    (
        "en",
        "Is an AI system used for recruitment or selection of candidates high-risk?",
        "Annex III",
    ),
    ("en", "What administrative fines apply to infringements?", "Article 99"),
    (
        "en",
        "Floating point operations threshold for systemic risk of general-purpose models",
        "Article 51",
    ),
    ("nl", "Is emotieherkenning op de werkplek verboden?", "Article 5"),
    (
        "nl",
        "Is een AI-systeem voor de werving of selectie van sollicitanten een hoog risico?",
        "Annex III",
    ),
    ("nl", "Welke administratieve geldboeten gelden bij inbreuken?", "Article 99"),
    (
        "nl",
        "Drempel voor drijvendekommabewerkingen bij systeemrisico van AI-modellen",
        "Article 51",
    ),
    (
        "nl",
        "Moeten gebruiksverantwoordelijken een effectbeoordeling op het gebied van "
        "grondrechten uitvoeren?",
        "Article 27",
    ),
]


@pytest.mark.parametrize(("lang", "question", "expected"), CLEAR)
def test_clear_questions_find_their_provision(lang: str, question: str, expected: str) -> None:
    answer = full_text().ask(question)
    assert answer.lang == lang
    assert expected in [p.item for p in answer.results[:3]], [p.citation for p in answer.results]


def _quoted_lines(quote: str) -> list[str]:
    return [line for line in quote.split("\n") if line.strip() not in ("", "…")]


@pytest.mark.parametrize(("lang", "question", "expected"), CLEAR[::2])
def test_quotes_are_verbatim_lines_of_the_cited_item(
    lang: str, question: str, expected: str
) -> None:
    answer = full_text().ask(question, limit=10, recitals=3)
    act = items(lang)
    for passage in answer.results + answer.recitals:
        source = act[passage.item]["text"]
        lines = _quoted_lines(passage.quote.removesuffix(" …"))
        assert lines, passage
        for line in lines:
            assert line in source, (passage.citation, line)
        assert (
            len(passage.quote) < len(source)
            or len(act[passage.item].get("paragraphs") or []) <= 1
            or passage.kind == "recital"
        )


def test_a_paragraph_with_points_is_quoted_down_to_the_matching_point() -> None:
    answer = full_text().ask(
        "untargeted scraping of facial images from the internet or CCTV", lang="en"
    )
    top = next(p for p in answer.results if p.item == "Article 5")
    assert top.citation == "Article 5(1)(e)"
    assert top.excerpt
    assert top.quote.startswith("1. The following AI practices shall be prohibited:\n…\n(e) ")
    assert "(f)" not in top.quote


def test_answer_shape_ranks_links_and_mode() -> None:
    answer = full_text().ask("transparency obligations for deep fakes", limit=4, recitals=2)
    assert isinstance(answer, ActAnswer)
    assert [p.rank for p in answer.results] == [1, 2, 3, 4]
    assert [p.rank for p in answer.recitals] == [1, 2]
    assert {p.kind for p in answer.results} <= {"article", "annex"}
    assert {p.kind for p in answer.recitals} == {"recital"}
    assert len({p.item for p in answer.results}) == 4  # one passage per item
    scores = [p.score for p in answer.results]
    assert scores == sorted(scores, reverse=True)
    assert all(
        re.match(r"^https://eur-lex\.europa\.eu/eli/reg/2024/1689/oj/eng#", p.link)
        for p in answer.results
    )
    assert answer.mode == "full-text"
    assert "switched off" in answer.mode_note
    assert "Not legal advice" in answer.disclaimer


def test_language_given_is_used_and_said() -> None:
    answer = full_text().ask("AI literacy", lang="nl")
    assert answer.lang == "nl"
    assert answer.language == "language Dutch as asked"
    assert all("/oj/nld#" in p.link for p in answer.results)


def test_detected_dutch_is_explained_and_answered_in_dutch() -> None:
    answer = full_text().ask(
        "Wat zijn de verplichtingen van de aanbieders van AI-systemen met een hoog risico?"
    )
    assert answer.lang == "nl"
    assert answer.language.startswith("language detected as Dutch:")
    assert answer.results[0].label.startswith(("Artikel", "Bijlage"))


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 501, "at most 500"),
        ("social\x00scoring", "U+0000"),
        ("social \x1b[31mscoring", "U+001B"),
        ("what is it?", "only common words"),
    ],
)
def test_bad_questions_are_refused_clearly(question: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=re.escape(message)):
        full_text().ask(question)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lang": "de"}, "language 'de' is not available"),
        ({"limit": 0}, "limit must be between 1 and 20"),
        ({"limit": 21}, "limit must be between 1 and 20"),
    ],
)
def test_bad_options_are_refused_clearly(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationFailed, match=re.escape(message)):
        full_text().ask("social scoring", **kwargs)  # type: ignore[arg-type]


def test_without_the_semantic_extra_search_still_works_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        search_service.embeddings, "missing_packages", lambda: ["sentence_transformers"]
    )
    search = ActSearch(cache_dir())  # semantic=None: use it if installed; here it is not
    assert not search.uses_semantic
    answer = search.ask("Is social scoring prohibited?")
    assert answer.mode == "full-text"
    assert "pip install 'fabriek[act-semantic]'" in answer.mode_note
    assert answer.results[0].item == "Article 5"


def test_requiring_the_semantic_extra_when_missing_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search_service.embeddings, "missing_packages", lambda: ["torch"])
    with pytest.raises(RuntimeError, match="act-semantic"):
        ActSearch(cache_dir(), semantic=True)


@settings(max_examples=150, deadline=None)
@given(question=st.text(max_size=600), lang=st.sampled_from([None, "en", "nl"]))
def test_any_text_is_answered_or_refused_clearly(question: str, lang: str | None) -> None:
    try:
        answer = full_text().ask(question, lang=lang)
    except ValidationFailed as refused:
        assert refused.extra["field"] == "q"
        return
    assert answer.lang in ("en", "nl")
    assert all(p.quote and p.link for p in answer.results + answer.recitals)
