"""API shapes of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: int
    from_state: str | None
    to_state: str | None
    reason: str
    data: dict[str, Any]


class ChainReport(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str] = Field(default_factory=list)
