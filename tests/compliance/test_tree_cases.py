"""The self-assessment cases (tests/compliance/cases/*.yaml): a described system, its answers,
and the categories, role and role obligations a reading of the Act expects, in EN and NL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fabriek.compliance.act_text import LANGS
from fabriek.compliance.tree import default_tree
from fabriek.compliance.tree_engine import assess

pytestmark = pytest.mark.unit

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def test_there_are_at_least_25_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path, lang: str) -> None:
    case: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert case["description"]
    expect = case["expect"]
    outcome = assess(default_tree(), case["answers"], lang)  # type: ignore[arg-type]
    assert outcome.role == expect["role"]
    assert outcome.category_ids == expect["categories"]
    assert sorted(o.id for o in outcome.obligations) == sorted(expect["obligations"])
    assert [p.citation for p in outcome.prohibited_practices] == expect.get("prohibited", [])
    # Every obligation carries its articles and the date it applies from, with its basis.
    for obligation in outcome.obligations:
        assert obligation.cites and obligation.applies_from and obligation.date_basis
    assert all(step.text for step in outcome.path)
