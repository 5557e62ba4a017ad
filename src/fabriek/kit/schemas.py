"""Response shapes that belong to no capability; shared by the API and the client."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str
    version: str
    database: str
    policy_versions: dict[str, str] = Field(default_factory=dict)
