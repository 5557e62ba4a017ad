"""Schema of policy/referral.yaml: the referral's weights, validated at load."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fabriek.kit.policydata import read_policy

TERMS = ("capacity", "sector", "data", "hardware", "antenna", "language")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferralWeights(_Strict):
    capacity: float = Field(ge=0)
    sector: float = Field(ge=0)
    data: float = Field(ge=0)
    hardware: float = Field(ge=0)
    antenna: float = Field(ge=0)
    language: float = Field(ge=0)


class ReferralPolicy(_Strict):
    kind: Literal["referral"]
    version: str
    weights: ReferralWeights
    capacity_full_at_headroom: float = Field(gt=1)
    extra_sites: int = Field(ge=0, le=10)

    @model_validator(mode="after")
    def _some_weight(self) -> ReferralPolicy:
        if sum(getattr(self.weights, t) for t in TERMS) <= 0:
            raise ValueError("at least one referral weight must be positive")
        return self

    @classmethod
    def load(cls, policy_dir: Path | None = None) -> ReferralPolicy:
        return read_policy("referral", cls, policy_dir)
