"""What a distribution's file may be called: a plain name, never a path.

The name only labels the file (downloads send it in Content-Disposition, staging uses it under
`datasets/<slug>/`); storage keys come from the content's hash. Still, a name that could leave
a directory when joined to a path (`..`, `/`, `\\`), that hides (a leading dot), or that carries
NUL or control characters is refused outright rather than cleaned up, so what the steward
uploads is what everyone sees.
"""

from __future__ import annotations

import unicodedata

from fabriek.errors import BadRequest

MAX_NAME = 255


def check_file_name(name: str) -> str:
    """Return `name` (NFC-normalised) if it is a safe plain file name; else BadRequest."""
    if not name:
        raise BadRequest("the file name is empty")
    for ch in name:
        if ch == "\x00":
            raise BadRequest("the file name contains a NUL character")
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise BadRequest(f"the file name contains the control character U+{ord(ch):04X}")
    if "/" in name or "\\" in name:
        raise BadRequest("the file name must not contain '/' or '\\': a name, not a path")
    if name.startswith("."):
        raise BadRequest("the file name must not start with '.'")
    if len(name) >= 2 and name[1] == ":":
        raise BadRequest("the file name must not start with a drive letter")
    if name != name.strip():
        raise BadRequest("the file name must not start or end with white space")
    normalised = unicodedata.normalize("NFC", name)
    if len(normalised.encode("utf-8")) > MAX_NAME:
        raise BadRequest(f"the file name is longer than {MAX_NAME} bytes")
    return normalised
