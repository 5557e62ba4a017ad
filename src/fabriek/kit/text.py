"""Text fields for API input: trimmed, bounded, and free of control characters.

PostgreSQL refuses NUL in text, and no name or identifier has a reason to carry control
characters; multi-line fields (abstracts, reasons, comments) may hold line breaks and tabs.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

_LINE_BREAKS = frozenset("\n\r\t")


def _check(value: str, *, multiline: bool) -> str:
    for ch in value:
        if unicodedata.category(ch) == "Cc" and not (multiline and ch in _LINE_BREAKS):
            raise ValueError(f"control character U+{ord(ch):04X} is not allowed here")
    return value


def _single(value: str) -> str:
    return _check(value, multiline=False)


def _multi(value: str) -> str:
    return _check(value, multiline=True)


def text(*, min_length: int = 0, max_length: int, multiline: bool = False,
         **constraints: Any) -> Any:
    """An Annotated str type: stripped, `min_length..max_length`, no control characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length,
                          **constraints),
        AfterValidator(_multi if multiline else _single),
    ]
