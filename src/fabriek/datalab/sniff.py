"""Does an upload's content match the format its name claims? Checked while it streams.

Not a parser: cheap checks that catch the usual mistakes (a binary file named .csv, a
truncated or renamed archive, text that is not UTF-8) before anything is kept. Text formats
must be UTF-8 (a BOM is allowed) without NUL bytes; JSON starts with `{` or `[`; XML with
`<`; gzip, zip and Parquet files carry their magic bytes (Parquet at both ends).
"""

from __future__ import annotations

import codecs

from fabriek.datalab.policy_files import UploadFormat
from fabriek.errors import BadRequest

_MAGIC = {"GZIP": b"\x1f\x8b", "ZIP": b"PK"}
_TEXT = {"CSV", "TSV", "JSON", "TXT", "XML"}
_FIRST_CHAR = {"JSON": "{[", "XML": "<"}
PARQUET = b"PAR1"


class ContentCheck:
    """Feed chunks in order, then `finish()`; each raises BadRequest on the first problem."""

    def __init__(self, fmt: UploadFormat, file_name: str) -> None:
        self.fmt = fmt
        self.name = file_name
        self.size = 0
        self._head = b""
        self._tail = b""
        self._text = fmt.file_type in _TEXT and not fmt.compressed
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self._first: str | None = None

    def _refuse(self, why: str) -> None:
        raise BadRequest(f"{self.name} is not a valid {self.fmt.extension} file: {why}; "
                         "nothing was stored")

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if len(self._head) < 8:
            self._head = (self._head + chunk)[:8]
        self._tail = (self._tail + chunk)[-4:]
        if self._text:
            nul = chunk.find(b"\x00")
            if nul >= 0:
                self._refuse(f"a NUL byte at byte {self.size + nul}")
            try:
                text = self._decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                self._refuse(f"not UTF-8 text (byte {self.size + exc.start})")
            if self._first is None:
                stripped = text.lstrip()
                if stripped:
                    self._first = stripped[0]
                    allowed = _FIRST_CHAR.get(self.fmt.file_type)
                    if allowed and self._first not in allowed:
                        self._refuse(f"it starts with {self._first!r}, not one of {allowed}")
        self.size += len(chunk)

    def finish(self) -> None:
        if self.size == 0:
            raise BadRequest(f"{self.name} is empty; nothing was stored")
        if self._text:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._refuse("it ends inside a UTF-8 character")
            if self._first is None:
                self._refuse("it holds only white space")
            return
        kind = "GZIP" if self.fmt.compressed else self.fmt.file_type
        magic = _MAGIC.get(kind)
        if magic is not None and not self._head.startswith(magic):
            self._refuse(f"it does not start with the {kind.lower()} signature")
        if kind == "PARQUET" and not (self._head.startswith(PARQUET) and self._tail == PARQUET
                                      and self.size >= 12):
            self._refuse("it lacks the PAR1 signature at its start or end")
