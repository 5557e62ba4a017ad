"""A distribution's file name is a plain name, never a path."""

from __future__ import annotations

import pytest

from fabriek.datalab.filenames import check_file_name
from fabriek.errors import BadRequest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", [
    "../secret.csv", "..", ".", "a/b.csv", "/etc/passwd", "..\\x.csv", "C:\\x.csv",
    "C:x.csv", "nul\x00.csv", "line\nbreak.csv", "tab\t.csv", "bell\x07.csv",
    "rtl\u202eexe.csv", ".hidden.csv", " padded.csv", "padded.csv ", "", "x" * 252 + ".csv",
])
def test_unsafe_names_are_refused(name):
    with pytest.raises(BadRequest):
        check_file_name(name)


@pytest.mark.parametrize("name", ["ai-factories.csv", "philly_15k_jobs.csv.gz",
                                  "données 2026.parquet", "v1..2.csv"])
def test_plain_names_are_kept(name):
    assert check_file_name(name) == name
