"""Everyday words per provision (topics.yaml): valid, complete, and a lift that does what
it says."""

from __future__ import annotations

import dataclasses

import pytest

from fabriek.compliance.search import ActSearch, topics
from fabriek.compliance.search.corpus import Unit
from fabriek.compliance.search.ranking import DEFAULT_PARAMS, Ranked, RankParams, rank_items
from fabriek.compliance.search.text import terms
from tests.compliance.search_support import cache_dir, full_text, items

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


def test_blend_mixes_bm25_over_its_best_with_cosines_scaled_over_the_provisions() -> None:
    mixed = topics.blend(
        {"Article 4": 8.0, "Article 5": 2.0},
        {"Article 4": 0.5, "Article 5": 0.1, "Article 6": 0.3},
        0.25,
    )
    assert mixed == pytest.approx(
        {"Article 4": 0.75 + 0.25, "Article 5": 0.1875, "Article 6": 0.125}
    )
    assert topics.blend({}, {}, 0.5) == {}


class _Encoder:
    """Word-count vectors over a fixed vocabulary, unit length: no model needed."""

    name = "fake-encoder"
    vocabulary = ("train", "staff", "fine", "deepfake")

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts):  # type: ignore[no-untyped-def]
        import numpy as np

        self.calls += 1
        rows = np.array([[t.split().count(w) for w in self.vocabulary] for t in texts], float)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1)


def test_topic_vectors_give_each_provision_its_best_phrase_and_are_cached(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("numpy")
    data = topics.parse(
        '"Article 4": {en: [train staff, staff], nl: [a]}\n'
        '"Article 99": {en: [fine, deepfake fine], nl: [b]}\n'
    )
    encoder = _Encoder()
    vectors = topics.TopicVectors.open(encoder, tmp_path, data)
    query = encoder.encode(["fine"])[0]

    assert vectors.similarities(query) == pytest.approx({"Article 4": 0.0, "Article 99": 1.0})
    assert len(list(tmp_path.glob("act-topics-en-*.npy"))) == 1
    calls = encoder.calls
    again = topics.TopicVectors.open(encoder, tmp_path, data)  # from the cache: nothing encoded
    assert encoder.calls == calls
    assert again.similarities(query) == vectors.similarities(query)


@pytest.mark.parametrize(
    ("lang", "question", "expected"),
    [
        ("en", "we sell a chatbot, do customers need to be told it is a bot?", "Article 50"),
        ("nl", "moeten we ons personeel op cursus sturen over AI?", "Article 4"),
    ],
)
def test_the_answer_puts_first_what_only_everyday_words_point_to(
    lang: str, question: str, expected: str
) -> None:
    answer = full_text().ask(question, lang=lang)
    assert answer.results[0].item == expected
    without = ActSearch(
        cache_dir(),
        semantic=False,
        params={
            k: dataclasses.replace(p, topic_lift_full_text=0.0) for k, p in DEFAULT_PARAMS.items()
        },
    )
    assert without.ask(question, lang=lang).results[0].item != expected
