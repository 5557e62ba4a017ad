"""The Act cut into units, and the full-text index: built once, cached, rebuilt when stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from fabriek.compliance.search import corpus, glossary, index
from fabriek.compliance.search.index import FullTextIndex, fts5_available, index_path
from fabriek.compliance.search.text import (
    compound_parts,
    decompound,
    decompounded,
    detect_language,
    split_compound,
    terms,
)
from tests.compliance.search_support import items

pytestmark = pytest.mark.unit

LINK = re.compile(
    r"^https://eur-lex\.europa\.eu/eli/reg/2024/1689/oj/(eng|nld)"
    r"#(art_\d{1,3}|rct_\d{1,3}|anx_[IVX]{1,5})$"
)


def test_fts5_is_available_in_this_python() -> None:
    assert fts5_available()


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_every_unit_has_a_well_formed_link_and_a_citation_of_its_item(lang: str) -> None:
    units = corpus.load_units(lang)  # type: ignore[arg-type]
    known = items(lang)
    assert {u.item_id for u in units} == set(known)
    for u in units:
        assert LINK.match(u.link), u.link
        assert u.citation.startswith(u.label), u.citation
        assert u.text.strip()
        assert u.lang == lang


def test_units_are_paragraphs_points_annex_points_and_recitals() -> None:
    by_citation = {u.citation: u for u in corpus.load_units("en")}
    assert by_citation["Article 6(2)"].anchor == "006.002"
    assert by_citation["Article 6(2)"].link.endswith("#art_6")
    assert by_citation["Article 3(1)"].text.startswith("(1) ‘AI system’ means")
    assert by_citation["Article 16(a)"].lead == "Providers of high-risk AI systems shall:"
    assert by_citation["Annex III, point 4"].text.startswith("4. Employment, workers’ management")
    assert by_citation["Annex III, point 4"].link.endswith("#anx_III")
    assert "Annex I, Section A, point 12" in by_citation
    assert by_citation["Recital 44"].link.endswith("#rct_44")


def test_a_paragraph_listing_points_gives_a_unit_per_point_and_one_for_its_closing_text() -> None:
    by_citation = {u.citation: u for u in corpus.load_units("en")}
    point = by_citation["Article 5(1)(e)"]
    assert point.anchor == "005.001"
    assert point.lead == "1. The following AI practices shall be prohibited:"
    assert point.text.startswith("(e) the placing on the market")
    assert "(f)" not in point.text
    assert by_citation["Article 5(1)(h)"].text.count("\n  (i") == 3  # sub-points stay with (h)
    # Art. 6(3)'s profiling rule closes the paragraph: cited to 6(3), not to its point (d).
    closing = by_citation["Article 6(3)"]
    assert "performs profiling of natural persons" in closing.text
    assert "profiling" not in by_citation["Article 6(3)(d)"].text


def test_dutch_units_are_cited_the_dutch_way() -> None:
    by_citation = {u.citation: u for u in corpus.load_units("nl")}
    assert by_citation["Artikel 6, lid 2"].item_id == "Article 6"
    assert by_citation["Artikel 6, lid 2"].link.endswith("/oj/nld#art_6")
    assert by_citation["Artikel 5, lid 1, punt e)"].anchor == "005.001"
    assert by_citation["Bijlage III, punt 4"].item_id == "Annex III"
    assert by_citation["Overweging 44"].item_id == "Recital 44"


def test_stemming_meets_the_words_of_the_act_in_both_languages() -> None:
    assert terms("prohibited practices", "en") == terms("prohibit practice", "en")
    assert terms("verboden praktijken", "nl") == terms("verboden praktijk", "nl")
    assert terms("What is the Act?", "en") == ["act"]  # stop words dropped


def test_language_is_detected_from_common_words_and_explained() -> None:
    nl = detect_language("Mag ik gezichtsherkenning gebruiken in mijn winkel?")
    assert nl.lang == "nl"
    assert "Dutch" in nl.explanation
    assert detect_language("Can I use face recognition in my shop?").lang == "en"
    assert "assumed" in detect_language("GPAI").explanation


def test_index_is_built_once_and_reused(tmp_path: Path) -> None:
    first = FullTextIndex.open(tmp_path, "en")
    built = first.path.stat().st_mtime_ns
    again = FullTextIndex.open(tmp_path, "en")
    assert again.path == first.path
    assert again.path.stat().st_mtime_ns == built
    assert len(again.units) == len(first.units) == len(corpus.load_units("en"))
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no temporary left


def test_index_is_rebuilt_when_the_code_version_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = FullTextIndex.open(tmp_path, "en").path
    monkeypatch.setattr(index, "INDEX_VERSION", index.INDEX_VERSION + "-next")
    new = FullTextIndex.open(tmp_path, "en").path
    assert new != old
    assert new.exists() and not old.exists()


def test_index_is_rebuilt_when_the_act_text_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = FullTextIndex.open(tmp_path, "nl").path
    monkeypatch.setattr(index, "text_hash", lambda lang: "0" * 64)  # another edition
    assert index_path(tmp_path, "nl") != old
    new = FullTextIndex.open(tmp_path, "nl").path
    assert new.exists() and not old.exists()


def test_languages_have_their_own_index_files(tmp_path: Path) -> None:
    en, nl = FullTextIndex.open(tmp_path, "en"), FullTextIndex.open(tmp_path, "nl")
    assert en.path != nl.path
    assert {u.lang for u in nl.units} == {"nl"}


def test_search_finds_units_by_stemmed_terms(tmp_path: Path) -> None:
    idx = FullTextIndex.open(tmp_path, "en")
    hits = idx.search(terms("emotion recognition in the workplace", "en"), 10)
    assert hits and hits == sorted(hits, key=lambda h: -h.score)
    assert "Article 50" in {idx.units[h.unit_id].item_id for h in hits}
    assert idx.search([], 10) == []
    assert idx.search(terms('"quoted" OR NEAR(x) *', "en"), 5) is not None  # FTS syntax is data


def test_glossary_file_is_valid_and_expands_plain_words() -> None:
    assert glossary.expansions("en") and glossary.expansions("nl")
    asked = terms("Is a foundation model regulated?", "en")
    extra = glossary.expand(asked, "en")
    assert set(terms("general-purpose AI model", "en")) - set(asked) <= set(extra)
    assert glossary.expand(terms("social scoring", "en"), "en") == []
    assert terms("gebruiksverantwoordelijke", "nl")[0] in glossary.expand(
        terms("We kopen de tool en gebruiken hem", "nl"), "nl"
    )


def test_a_glossary_key_with_common_words_is_a_phrase_not_its_one_meaningful_word() -> None:
    def expanded(question: str, lang: str) -> list[str]:
        return glossary.expand(terms(question, lang), lang, question=question)  # type: ignore[arg-type]

    smes = terms("SMEs", "en")[0]
    assert smes in expanded("Is there help for a start-up?", "en")
    assert smes not in expanded("When did the bans start?", "en")
    handel = terms("handel", "nl")[0]
    assert handel in expanded("Ons systeem is al op de markt", "nl")
    assert handel not in expanded("Wie houdt toezicht op de markt?", "nl")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nen: {chatbot: ''}\nnl: {}\n", "key and value must both have words"),
        ("version: 1\nen: {}\n", "nl"),
        ("version: 1\nen: {}\nnl: {}\nfr: {}\n", "fr"),
    ],
)
def test_a_bad_glossary_is_refused_at_load(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        glossary.parse(text)


def test_unknown_dutch_compounds_are_split_into_words_of_the_act() -> None:
    vocabulary = {"water": 40, "voorziening": 12, "product": 90, "regels": 70, "net": 1}
    assert split_compound("watervoorziening", vocabulary) == ("water", "voorziening")
    assert split_compound("productregels", vocabulary) == ("product", "regels")
    assert split_compound("productsregels", vocabulary) == ("product", "regels")  # linking -s-
    assert split_compound("water", vocabulary) is None  # known word
    assert split_compound("gezichtsherkenning", vocabulary) is None  # parts unknown
    assert compound_parts("Wie regelt de watervoorziening?", "nl", vocabulary) == terms(
        "water voorziening", "nl"
    )


def test_dutch_compounds_of_the_question_are_also_searched_by_their_parts() -> None:
    vocabulary = {
        "kwaliteit": 8,
        "beheer": 11,
        "systeem": 800,
        "gebruik": 372,
        "verantwoordelijke": 2,
        "kwaliteitsbeheer": 3,
        "zeldzaam": 1,
        "woord": 5,
    }
    assert decompound("gebruiksverantwoordelijke", vocabulary) == ["gebruik", "verantwoordelijke"]
    # The fewest parts first; the parts of parts are searched too.
    assert decompound("kwaliteitsbeheersysteem", vocabulary) == ["kwaliteitsbeheer", "systeem"]
    assert decompounded("het kwaliteitsbeheersysteem", "nl", vocabulary) == terms(
        "kwaliteitsbeheer systeem kwaliteit beheer", "nl"
    )
    assert decompound("zeldzaamwoord", vocabulary) == []  # a part used once is not trusted
    assert decompound("systeem", vocabulary) == []  # too short to be two words of 4 letters
    assert decompounded("quality management system", "en", vocabulary) == []
