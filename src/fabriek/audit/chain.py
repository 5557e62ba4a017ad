"""Pure hash-chain arithmetic, shared by append and verify."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from fabriek.kit.clock import as_utc

GENESIS = "0" * 64


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the entry's canonical JSON."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_default)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="microseconds")
    return str(value)
