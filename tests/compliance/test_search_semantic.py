"""Semantic re-ranking with the packaged all-MiniLM-L6-v2 model (extra `act-semantic`).

Skipped, with the reason, where the extra is not installed; the full-text fallback is tested
in test_search_answers.py whether or not it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fabriek.compliance.search import ActSearch, corpus
from fabriek.compliance.search.index import Hit
from fabriek.compliance.search.ranking import RankParams, fuse, rank_items
from fabriek.compliance.search.semantic import MiniLM, SemanticIndex, missing_packages

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(
        bool(missing_packages()),
        reason="semantic re-ranking needs the 'act-semantic' extra "
        f"(not installed here: {', '.join(missing_packages())})",
    ),
]


@pytest.fixture(scope="module")
def encoder() -> MiniLM:
    return MiniLM()


def _sample() -> list[corpus.Unit]:
    wanted = {
        "Article 5(1)(f)",
        "Article 50(1)",
        "Article 99(3)",
        "Article 10(2)",
        "Annex III, point 4",
        "Article 4",
        "Article 14(1)",
        "Article 51(2)",
    }
    return [u for u in corpus.load_units("en") if u.citation in wanted]


def test_the_packaged_model_loads_offline_and_embeds_unit_vectors(encoder: MiniLM) -> None:
    vectors = encoder.encode(["a chatbot must say it is a machine", "fines for breaches"])
    assert vectors.shape == (2, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4


def test_paraphrases_without_shared_words_find_their_unit(encoder: MiniLM, tmp_path: Path) -> None:
    units = _sample()
    semantic = SemanticIndex.open(encoder, units, tmp_path / "act-index-en-x.sqlite", "en")
    for question, citation in [
        ("How much money will we have to pay if we break the law?", "Article 99(3)"),
        ("Tell users they are talking with a machine", "Article 50(1)"),
        ("Staff who use AI need enough knowledge of it", "Article 4"),
        ("A person must be able to watch over the system and step in", "Article 14(1)"),
    ]:
        sims = semantic.similarities(question)
        assert units[int(sims.argmax())].citation == citation, question


def test_embeddings_are_cached_beside_the_index_and_reused(encoder: MiniLM, tmp_path: Path) -> None:
    units = _sample()
    index_file = tmp_path / "act-index-en-abc.sqlite"
    SemanticIndex.open(encoder, units, index_file, "en")
    cached = list(tmp_path.glob("act-index-en-abc-*.npy"))
    assert len(cached) == 1
    built = cached[0].stat().st_mtime_ns
    again = SemanticIndex.open(encoder, units, index_file, "en")
    assert cached[0].stat().st_mtime_ns == built
    assert again.vectors.shape == (len(units), 384)


def test_fusion_lifts_a_semantic_match_that_bm25_ranked_low() -> None:
    hits = [Hit(0, 10.0), Hit(1, 9.0), Hit(2, 1.0)]
    sims = [0.1, 0.2, 0.9]
    fused = fuse(hits, sims, RankParams(semantic_weight=0.5))
    assert fused[0].unit_id == 2
    assert fuse(hits, None, RankParams())[0].unit_id == 0  # full text only keeps BM25's order


def test_items_are_ranked_by_their_best_unit() -> None:
    units = _sample()
    fused = fuse([Hit(i, float(len(units) - i)) for i in range(len(units))], None, RankParams())
    ranked = rank_items(fused, units, RankParams(second_unit_weight=0.0))
    assert [item for item, _, _ in ranked] == list(dict.fromkeys(u.item_id for u in units))


@pytest.mark.slow
def test_ask_uses_the_reranker_once_built(tmp_path: Path) -> None:
    """Embeds the whole English text (a minute or two on a small machine) and learns the
    Dutch → English table (some seconds)."""
    search = ActSearch(tmp_path)
    first = search.ask(
        "Must we tell customers they are chatting with a bot?", lang="en", wait=False
    )
    assert first.mode == "full-text"  # the re-ranker is being built in the background
    assert "being prepared" in first.mode_note
    search.warm(("en",))
    answer = search.ask("Must we tell customers they are chatting with a bot?", lang="en")
    assert answer.mode == "full-text+semantic"
    assert "Article 50" in [p.item for p in answer.results[:3]]
    # A Dutch question is re-ranked with the English embeddings (through its translation and
    # the English twins of its best Dutch units) and still quoted from the Dutch text.
    search.warm(("nl",))
    dutch = search.ask("Mag een AI-systeem de kwetsbaarheid van ouderen of kinderen uitbuiten?")
    assert dutch.lang == "nl" and dutch.mode == "full-text+semantic"
    top = next(p for p in dutch.results[:3] if p.item == "Article 5")
    assert top.citation.startswith("Artikel 5") and top.link.endswith("/nld#art_5")
    assert not list(tmp_path.glob("act-index-nl-*.npy"))  # Dutch needs no Dutch embeddings


def test_z_fusion_standardises_each_signal_and_keeps_scores_non_negative() -> None:
    hits = [Hit(0, 10.0), Hit(1, 9.0), Hit(2, 1.0)]
    sims = [0.1, 0.2, 0.9, 0.0]
    z = fuse(hits, sims, RankParams(semantic_weight=0.5, fusion="z"))
    assert z[0].unit_id == 2  # the clear semantic match BM25 ranked low still wins
    assert {r.unit_id for r in z} == {0, 1, 2, 3}
    assert min(r.score for r in z) == 0.0  # shifted: the item lifts add shares of scores
    # Each signal counts by its spread, not its scale: cosines doubled and shifted, BM25 times
    # 10, change nothing.
    wider = fuse(
        [Hit(h.unit_id, 10 * h.score) for h in hits],
        [0.0, 0.2, 1.6, -0.2],
        RankParams(semantic_weight=0.5, fusion="z"),
    )
    assert [r.unit_id for r in wider] == [r.unit_id for r in z]
    assert [r.score for r in wider] == pytest.approx([r.score for r in z])
    # Without cosines (full text) the BM25 order and scores are kept.
    assert fuse(hits, None, RankParams(fusion="z")) == fuse(hits, None, RankParams())


def test_rocchio_moves_the_question_towards_its_best_units() -> None:
    import numpy as np

    vectors = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.6, 0.8], [0.0, 0.0, 1.0]])
    index = SemanticIndex(None, vectors)  # type: ignore[arg-type]
    question = np.array([0.6, 0.0, 0.8])
    plain = index.rocchio(question, [], 0.5)
    assert plain == pytest.approx(vectors @ question)
    assert int(np.argmax(plain)) == 3
    moved = index.rocchio(question, [2], 1.0)  # unit 2 was among the best of a first fusion
    assert int(np.argmax(moved)) == 2
    assert moved[2] > plain[2] and moved[0] < plain[0]


def test_the_default_ranking_uses_dense_feedback_for_both_languages(tmp_path: Path) -> None:
    search = ActSearch(tmp_path)
    assert search.params["en"].rocchio > 0 and search.params["nl"].rocchio > 0
