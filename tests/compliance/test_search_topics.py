"""Everyday words per provision (topics.yaml): valid, complete, and a lift that does what
it says."""

from __future__ import annotations

import dataclasses

import pytest

from fabriek.compliance.search import topics
from fabriek.compliance.search.corpus import Unit
from fabriek.compliance.search.ranking import Ranked, RankParams, rank_items
from fabriek.compliance.search.text import terms
from tests.compliance.search_support import items

pytestmark = pytest.mark.unit


def test_every_article_and_annex_has_everyday_words_in_both_languages() -> None:
    loaded = topics.load()
    provisions = {i for i, item in items("en").items() if item["type"] in ("article", "annex")}
    assert set(loaded) == provisions
    for item_id, phrases in loaded.items():
        assert item_id in items("nl"), item_id
        assert len(phrases.en) >= 3 and len(phrases.nl) >= 3, item_id
        for lang in ("en", "nl"):
            assert all(terms(p, lang) for p in getattr(phrases, lang)), (item_id, lang)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"Article 4": {en: [staff training], nl: []}', "at least one phrase"),
        ('"Article 4": {en: ["  "], nl: [scholen]}', "a phrase is empty"),
        ('"Article 4": {en: [staff training]}', "nl"),
        ('"Article 4": {en: [a], nl: [b], fr: [c]}', "fr"),
        ('"Recital 12": {en: [a], nl: [b]}', "'Article N' or 'Annex N'"),
        ('"Article 4": {en: ["' + "x" * 81 + '"], nl: [b]}', "at most 80 characters"),
    ],
)
def test_a_bad_topics_file_is_refused_at_load(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        topics.parse(text)


@pytest.mark.parametrize(
    ("lang", "question", "expected"),
    [
        ("en", "do we have to teach our staff how the AI tools work", "Article 4"),
        ("nl", "moeten we ons personeel scholen in het gebruik van AI", "Article 4"),
        ("en", "what is the fine if we break the rules", "Article 99"),
        ("nl", "hoe hoog is de boete als we de regels overtreden", "Article 99"),
    ],
)
def test_everyday_words_find_their_provision(lang: str, question: str, expected: str) -> None:
    index = topics.TopicIndex(lang)  # type: ignore[arg-type]
    found = index.search(terms(question, lang))  # type: ignore[arg-type]
    assert expected in sorted(found, key=lambda i: -found[i])[:3], found


def test_topic_search_of_nothing_finds_nothing() -> None:
    assert topics.TopicIndex("en").search([]) == {}
    assert topics.TopicIndex("nl").search(["zzqx"]) == {}


def _unit(item_id: str) -> Unit:
    fields = {f.name: "" for f in dataclasses.fields(Unit)}
    return Unit(**{**fields, "item_id": item_id, "kind": "article", "lang": "en"})  # type: ignore[arg-type]


def test_the_topic_lift_adds_its_share_of_the_best_item_score() -> None:
    units = [_unit("Article 1"), _unit("Article 2"), _unit("Article 3")]
    ranked = [Ranked(0, 2.0), Ranked(1, 1.0)]
    params = RankParams(second_unit_weight=0.0, topic_lift=0.5)

    scored = {
        i: s
        for i, _, s in rank_items(
            ranked, units, params, topics={"Article 2": 4.0, "Article 3": 2.0}
        )
    }

    # Article 2: 1.0 + 0.5 × 2.0 (best item) × 4/4; Article 3 had no unit: 0 + 0.5 × 2 × 2/4,
    # quoted from its first unit.
    assert scored == {"Article 1": 2.0, "Article 2": 2.0, "Article 3": 0.5}
    off = dataclasses.replace(params, topic_lift=0.0)
    assert [i for i, _, _ in rank_items(ranked, units, off, topics={"Article 3": 9.0})] == [
        "Article 1",
        "Article 2",
    ]
