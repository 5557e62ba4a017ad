"""Dutch questions through English (the term table learned from the Act's parallel text, the
English signals fused with the Dutch ranking) and recitals lifting the provisions they explain."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabriek.compliance.search import ActSearch, corpus
from fabriek.compliance.search.index import Hit
from fabriek.compliance.search.ranking import (
    DEFAULT_PARAMS,
    Ranked,
    RankParams,
    combine,
    rank_items,
)
from fabriek.compliance.search.structure import recital_provisions, references, unit_references
from fabriek.compliance.search.text import terms
from fabriek.compliance.search.translation import (
    TranslationTable,
    ibm_model1,
    sentence_pairs,
    table_path,
)
from tests.compliance.search_support import cache_dir, full_text, items

pytestmark = pytest.mark.unit


def _best(table: TranslationTable, dutch_word: str) -> str:
    (stem,) = terms(dutch_word, "nl")
    return next(iter(table.table[stem]))


def test_ibm_model1_learns_word_pairs_from_aligned_sentences() -> None:
    pairs = [
        (["het", "huis"], ["the", "house"]),
        (["het", "boek"], ["the", "book"]),
        (["een", "boek"], ["a", "book"]),
    ]
    table = ibm_model1(pairs)
    assert max(table["huis"], key=table["huis"].__getitem__) == "house"
    assert max(table["boek"], key=table["boek"].__getitem__) == "book"
    assert max(table["het"], key=table["het"].__getitem__) == "the"


def test_the_act_in_both_languages_pairs_unit_by_unit() -> None:
    dutch, english = corpus.load_units("nl"), corpus.load_units("en")
    pairs = sentence_pairs(dutch, english)
    assert len(pairs) > len(dutch)  # the units and the item titles
    with pytest.raises(ValueError, match="not aligned"):
        sentence_pairs(dutch[1:], english[:-1])


def test_the_table_learned_from_the_act_translates_its_terms() -> None:
    table = TranslationTable.open(cache_dir())
    assert table_path(cache_dir()).exists()
    assert _best(table, "verboden") == "prohibit"
    assert _best(table, "aanbieder") == "provid"
    assert _best(table, "gebruiksverantwoordelijke") == "deploy"
    assert _best(table, "drempel") == "threshold"
    assert _best(table, "geldboete") == "fine"
    translated = table.translate(terms("Is emotieherkenning op de werkplek verboden?", "nl"))
    assert {"prohibit", "workplac"} <= set(translated.terms)
    assert "prohibited" in translated.pseudo_question.split()


def test_the_table_is_learned_once_and_reopened_from_the_cache(tmp_path: Path) -> None:
    path = table_path(tmp_path)
    path.write_text('{"table": {"verbod": {"prohibit": 1.0}}, "surface": {}}', "utf-8")
    table = TranslationTable.open(tmp_path)  # a cached file is read, not learned again
    assert table.translate(["verbod", "chatbot"]).terms == ["prohibit"]


def test_english_bm25_is_fused_with_the_dutch_by_unit() -> None:
    dutch = [Hit(0, 4.0), Hit(1, 3.0)]
    english = [Hit(2, 9.0), Hit(1, 8.0)]
    fused = combine([(dutch, 1.0), (english, 1.0)], [], RankParams())
    assert fused[0].unit_id == 1  # found in both languages
    only_dutch = combine([(dutch, 1.0), (english, 0.0)], [], RankParams())
    assert [r.unit_id for r in only_dutch] == [0, 1]


def test_dutch_is_searched_through_english_by_default() -> None:
    params = DEFAULT_PARAMS["nl"]
    assert params.cross_lexical > 0
    assert DEFAULT_PARAMS["en"].cross_lexical == 0


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Mag een AI-systeem de kwetsbaarheid van ouderen of kinderen uitbuiten?", "Article 5"),
        (
            "Welke gegevens mogen we gebruiken om een model met een hoog risico te trainen?",
            "Article 10",
        ),
        ("Welke boetes riskeren bedrijven die de regels overtreden?", "Article 99"),
    ],
)
def test_a_dutch_question_finds_its_article_without_the_model(question: str, expected: str) -> None:
    answer = full_text().ask(question)
    assert answer.lang == "nl" and answer.mode == "full-text"
    assert expected in [p.item for p in answer.results[:5]], [p.item for p in answer.results]
    top = next(p for p in answer.results if p.item == expected)
    assert top.link.endswith(f"/nld#art_{expected.split()[1]}")
    assert "Artikel" in top.citation  # quoted from the Dutch text


def test_without_the_table_a_dutch_question_is_answered_in_dutch_only(tmp_path: Path) -> None:
    search = ActSearch(cache_dir(), semantic=False)
    search._translation = None
    search._translation_thread = object()  # type: ignore[assignment]  # "being learned"
    answer = search.ask("Is emotieherkenning op de werkplek verboden?", wait=False)
    assert "Article 5" in [p.item for p in answer.results[:3]]


def test_the_recital_map_knows_which_provision_a_recital_explains() -> None:
    explains = recital_provisions(corpus.load_units("en"))
    assert len(explains) == len([i for i in items("en") if i.startswith("Recital")])
    assert explains["Recital 44"] == "Article 5"  # emotion recognition at work and school
    assert explains["Recital 132"] == "Article 50"  # telling people they meet an AI system
    assert explains["Recital 12"] == "Article 3"  # the notion of an AI system
    assert explains["Recital 53"] == "Article 6"  # the Article 6(3) derogations
    assert explains["Recital 111"] == "Annex XIII"  # criteria for systemic risk


def test_the_map_is_stored_with_the_index_of_either_language() -> None:
    for lang in ("en", "nl"):
        explains = full_text().index(lang).explains  # type: ignore[arg-type]
        assert explains["Recital 44"] == "Article 5"


def test_a_matching_recital_lifts_the_provision_it_explains() -> None:
    units = [
        u for u in corpus.load_units("en") if u.item_id in ("Article 5", "Article 50", "Recital 44")
    ]
    ids = {u.item_id: i for i, u in reversed(list(enumerate(units)))}
    ranked = [
        Ranked(ids["Recital 44"], 1.0),
        Ranked(ids["Article 50"], 0.5),
        Ranked(ids["Article 5"], 0.4),
    ]
    explains = {"Recital 44": "Article 5"}
    plain = rank_items(ranked, units, RankParams(second_unit_weight=0.0), explains)
    assert [i for i, _, _ in plain] == ["Recital 44", "Article 50", "Article 5"]
    lifted = rank_items(
        ranked, units, RankParams(second_unit_weight=0.0, recital_lift=0.2), explains
    )
    assert [i for i, _, _ in lifted] == ["Recital 44", "Article 5", "Article 50"]
    assert lifted[1][2] == pytest.approx(0.4 + 0.2 * 1.0)
    # A provision no unit of which matched is lifted too, and quoted from its first unit.
    alone = rank_items(ranked[:2], units, RankParams(recital_lift=0.2), explains)
    article = next(t for t in alone if t[0] == "Article 5")
    assert units[article[1].unit_id].item_id == "Article 5"


def test_references_name_this_acts_articles_and_annexes_not_other_acts() -> None:
    assert references("the legislation listed in Annex I and the areas in Annex III") == [
        "Annex I",
        "Annex III",
    ]
    assert references("the requirements in Articles 8 to 11 and Article 15(1)") == [
        "Article 8",
        "Article 9",
        "Article 10",
        "Article 11",
        "Article 15",
    ]
    assert references("Articles 16, 17 and 18; Annexes VIII to X") == [
        "Article 16",
        "Article 17",
        "Article 18",
        "Annex VIII",
        "Annex IX",
        "Annex X",
    ]
    assert (
        references("Article 9 of Regulation (EU) 2016/679 and Annex I to Directive 2006/42") == []
    )
    assert references("Article 6 of this Regulation") == ["Article 6"]


def test_each_unit_knows_the_items_it_refers_to_in_either_language() -> None:
    english = corpus.load_units("en")
    refers = unit_references(english)
    cited = dict(zip((u.citation for u in english), refers, strict=True))
    assert "Annex I" in cited["Article 6(1)(a)"]
    assert "Annex XII" in cited["Article 53(1)(b)"]
    assert all(u.item_id not in r for u, r in zip(english, refers, strict=True))
    for lang in ("en", "nl"):
        assert full_text().index(lang).refers == refers  # type: ignore[arg-type]


def test_a_matching_unit_lifts_the_item_it_refers_to() -> None:
    units = [
        u for u in corpus.load_units("en") if u.item_id in ("Article 53", "Annex XII", "Annex XI")
    ]
    first = {u.item_id: i for i, u in reversed(list(enumerate(units)))}
    refers = [["Annex XII"] if u.item_id == "Article 53" else [] for u in units]
    ranked = [
        Ranked(first["Article 53"], 1.0),
        Ranked(first["Annex XI"], 0.5),
        Ranked(first["Annex XII"], 0.45),
    ]
    plain = rank_items(ranked, units, RankParams(second_unit_weight=0.0), refers=refers)
    assert [i for i, _, _ in plain] == ["Article 53", "Annex XI", "Annex XII"]
    lifted = rank_items(
        ranked, units, RankParams(second_unit_weight=0.0, reference_lift=0.1), refers=refers
    )
    assert [i for i, _, _ in lifted] == ["Article 53", "Annex XII", "Annex XI"]
    assert lifted[1][2] == pytest.approx(0.45 + 0.1 * 1.0)
    # Only items that matched themselves are lifted: a reference alone is no answer.
    alone = rank_items(ranked[:2], units, RankParams(reference_lift=0.1), refers=refers)
    assert "Annex XII" not in [i for i, _, _ in alone]
