"""The optional Dutch → English dictionary (FreeDict nld-eng in dictd format, from Debian's
dict-freedict-nld-eng when installed): read with the standard library, used only for Dutch
stems the Act's own table does not know, only for English words the Act uses. A small sample
in dictd format is kept in tests/, so these tests do not need the package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fabriek.compliance.search import dictionary
from fabriek.compliance.search.text import terms
from fabriek.compliance.search.translation import (
    TranslationTable,
    add_dictionary,
    cache_key,
    table_path,
)

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).parent / "dictd" / "nld-eng-sample.index"


def _nl(word: str) -> str:
    (stem,) = terms(word, "nl")
    return stem


def _stem(word: str) -> str:
    return next(iter(terms(word, "nl")), "")  # as translation.py does: '' for a stop word


def _translations(vocabulary: set[str]) -> dict[str, dict[str, float]]:
    return dictionary.translations(
        SAMPLE, dutch_stem=_stem, english_terms=lambda t: terms(t, "en"),
        english_vocabulary=vocabulary)


def test_dictd_offsets_are_base64_numbers() -> None:
    assert dictionary.b64_number("A") == 0
    assert dictionary.b64_number("BI") == 64 + 8
    assert dictionary.b64_number("/") == 63


def test_the_sample_in_dictd_format_is_read_entry_by_entry() -> None:
    found = dict(dictionary.entries(SAMPLE))
    assert "00databaseinfo" not in found  # the database's own header entries are skipped
    assert found["leger"] == [["army"]]
    assert found["soldaat"] == [["soldier"], ["military", "serviceman"]]
    assert found["vingerafdruk"] == [["dactylogram", "fingerprint"]]  # ';' separates too


def test_only_english_words_the_act_uses_are_kept_from_the_first_sense_that_has_them() -> None:
    act = {"militari", "test", "attempt", "fingerprint", "flexibl", "network"}
    table = _translations(act)
    assert table[_nl("soldaat")] == {"militari": 1.0}  # 'soldier' is not in the Act
    assert _nl("leger") not in table  # 'army' is not in the Act: nothing to search for
    assert set(table[_nl("uitproberen")]) == {"attempt", "test"}
    # Snowball makes 'vinrafdruk' of 'vingerafdruk': a headword whose stem is not its start
    # is left out, like 'lenig' below
    assert "fingerprint" not in {e for es in table.values() for e in es}
    assert _nl("net") not in table  # short stems are too ambiguous ('neat', 'network', 'just')
    assert all(" " not in f for f in table)  # 'te koop': one-word headwords only
    # 'lenig' stems to 'leen', the stem of 'lenen': not a headword of that stem
    assert _nl("lenig") not in table


def test_the_dictionary_fills_only_stems_the_act_table_does_not_know() -> None:
    table = {_nl("soldaat"): {"soldier": 0.9}}
    surface = {"militari": "military", "test": "testing", "attempt": "attempts",
               "fingerprint": "fingerprints"}
    added = add_dictionary(table, surface, SAMPLE)
    assert added == 1
    assert table[_nl("soldaat")] == {"soldier": 0.9}  # learned from the Act: left alone
    translation = TranslationTable(table, surface).translate([_nl("uitproberen")])
    assert sorted(translation.terms) == ["attempt", "test"]
    assert sorted(translation.pseudo_question.split()) == ["attempts", "testing"]


def test_the_table_is_built_with_the_dictionary_and_keyed_by_it(tmp_path: Path) -> None:
    sample = tmp_path / "dict" / "nld-eng.index"
    sample.parent.mkdir()
    shutil.copy(SAMPLE, sample)
    shutil.copy(SAMPLE.with_suffix("").with_suffix(".dict.dz"),
                sample.with_suffix("").with_suffix(".dict.dz"))
    assert cache_key(sample) != cache_key(None)
    table = TranslationTable.open(tmp_path, sample)
    path = table_path(tmp_path, sample)
    meta = json.loads(path.read_text("utf-8"))["dictionary"]
    assert meta["path"] == str(sample) and meta["stems_added"] >= 1
    assert "militari" in table.table[_nl("soldaat")]
    # A changed dictionary (an update, a removal) is another key: the table is rebuilt.
    before = cache_key(sample)
    sample.write_text(sample.read_text("utf-8") + "\n", "utf-8")
    assert cache_key(sample) != before


def test_without_the_package_the_table_is_the_acts_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(dictionary.ENV, raising=False)
    monkeypatch.setattr(dictionary, "DEFAULT_INDEX", tmp_path / "missing.index")
    assert dictionary.default_index() is None
    assert cache_key() == cache_key(None)
    assert dictionary.fingerprint(None) == "none"
    monkeypatch.setenv(dictionary.ENV, "")  # switched off even where it is installed
    assert dictionary.default_index() is None
    monkeypatch.setenv(dictionary.ENV, str(SAMPLE))
    assert dictionary.default_index() == SAMPLE


@pytest.mark.skipif(not dictionary.DEFAULT_INDEX.exists(),
                    reason="Debian's dict-freedict-nld-eng is not installed")
def test_the_installed_freedict_dictionary_is_parsed() -> None:
    found = dict(dictionary.entries(dictionary.DEFAULT_INDEX))
    assert len(found) > 20_000
    assert found["leger"] == [["army"]]
    assert ["fine"] in found["boete"]
    table = dictionary.translations(
        dictionary.DEFAULT_INDEX, dutch_stem=_stem, english_terms=lambda t: terms(t, "en"),
        english_vocabulary={"polic", "fine", "camera"})
    assert table[_nl("politie")] == {"polic": 1.0}
    assert table[_nl("boete")] == {"fine": 1.0}
