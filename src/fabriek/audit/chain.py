"""Pure hash-chain arithmetic, shared by append and verify."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from uuid import uuid4

from fabriek.kit.clock import as_utc

GENESIS = "0" * 64


def canonical(fields: dict[str, Any]) -> str:
    """The entry's canonical JSON: sorted keys, no spaces, ASCII only."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=json_default)


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the entry's canonical JSON."""
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


def split_at_seq(fields: dict[str, Any]) -> tuple[str, str]:
    """The canonical JSON of `fields` around its `seq` value: (before, after).

    `before + str(seq) + after == canonical({**fields, "seq": seq})`, so the database can hash
    an entry once it has given it its sequence number (see audit.service).
    """
    marker = json.dumps(f"fabriek-seq-{uuid4().hex}")
    text = canonical({**fields, "seq": f"{json.loads(marker)}"})
    key = '"seq":' + marker
    if text.count(key) != 1:  # cannot happen with a random marker; never guess
        raise ValueError("the sequence marker is not unique in the entry")
    before, _, after = text.partition(key)
    return before + '"seq":', after


def json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="microseconds")
    return str(value)
