"""API shapes of the compliance capability (AI Act self-assessment and compute ledger)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fabriek.compliance.ledger_policy import Basis
from fabriek.compliance.tree_engine import Cited, ObligationOut, Outcome

AnswerValue = Annotated[str, Field(min_length=1, max_length=80)]


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: int
    lang: Literal["en", "nl"] = "en"
    answers: dict[Annotated[str, Field(max_length=80)],
                  AnswerValue | Annotated[list[AnswerValue], Field(max_length=20)]] = Field(
        description="Question id → option id, or a list of option ids for a multiple-choice "
                    "question (GET /api/v1/act/tree lists them).", max_length=60)


class AssessmentRead(BaseModel):
    id: int
    organisation_id: int
    created_by_id: int
    tree_version: str
    lang: str
    answers: dict[str, Any]
    categories: list[str]
    outcome: Outcome
    created_at: datetime


class SelfAssessmentAttach(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assessment_id: int


class ProposalSelfAssessment(BaseModel):
    """What reviewers see of a proposal's self-assessment."""

    proposal_id: int
    assessment_id: int
    attached_at: datetime
    tree_version: str
    role: str | None
    categories: list[str]
    notable: list[str] = Field(description="Labels of high-risk, systemic-risk or prohibited "
                                           "categories, for reviewers' attention.")
    obligations: list[ObligationOut]
    advice: list[Cited]


class ThresholdStatus(BaseModel):
    exponent: int
    flop: float
    reached: bool
    rule: str
    meaning: str


class LedgerWarningRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    threshold_exponent: int
    flop: float
    basis: str
    message: str
    created_at: datetime


class LedgerRead(BaseModel):
    organisation_id: int
    model: str
    basis: Basis
    utilisation: float | None = Field(description="Utilisation used to turn GPU-hours into "
                                                  "FLOP; null when FLOP are reported.")
    reported_flop: float | None
    flop: float = Field(description="Training compute on the platform so far, on `basis`.")
    gpu_hours: float
    gpu_hours_unpriced: float = Field(description="GPU-hours on GPUs of unknown peak: not in "
                                                  "`flop`.")
    jobs: int
    worst_case_flop_active: float = Field(description="What queued and running jobs would add "
                                                      "if they ran to their time limits.")
    thresholds: list[ThresholdStatus]
    projected: list[str] = Field(description="Thresholds the active jobs' worst case would "
                                             "cross.")
    warnings: list[LedgerWarningRead]


class LedgerBasisIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: int | None = None
    basis: Basis
    utilisation: float | None = Field(default=None, gt=0, le=1)
    reported_flop: float | None = Field(default=None, ge=0, le=1e32)

    @model_validator(mode="after")
    def _coherent(self) -> LedgerBasisIn:
        if self.basis is Basis.measured_utilisation and self.utilisation is None:
            raise ValueError("a measured-utilisation basis needs `utilisation` (0 < u <= 1)")
        if self.basis is Basis.reported and self.reported_flop is None:
            raise ValueError("a reported basis needs `reported_flop`")
        if self.basis is Basis.estimate and (self.utilisation is not None
                                             or self.reported_flop is not None):
            raise ValueError("the estimate basis uses the default utilisation; leave "
                             "`utilisation` and `reported_flop` out")
        return self
