"""Shared by the AI Act search tests: one full-text searcher per test run (index built once).

Plain cached functions rather than conftest fixtures, so this capability's tests add no
conftest beside the other helpers' compliance tests.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from fabriek.compliance.search import ActSearch
from fabriek.compliance.search.corpus import raw_bytes


@cache
def cache_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="fabriek-act-search-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@cache
def full_text() -> ActSearch:
    """Full-text ranking only: the fallback without the `act-semantic` extra."""
    return ActSearch(cache_dir(), semantic=False)


@cache
def items(lang: str) -> dict[str, dict[str, Any]]:
    """The Act's items by id, straight from the packaged JSON."""
    return {i["id"]: i for i in json.loads(raw_bytes(lang))["items"]}  # type: ignore[arg-type]
