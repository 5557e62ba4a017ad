"""API shapes of the access capability, shared by the API, the client, the CLI and the portal."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fabriek.access.enums import (
    AllocationState,
    DecisionOutcome,
    EthicsCommitment,
    ProposalState,
    ReviewKind,
    ReviewState,
)
from fabriek.kit.text import text

Text = text(min_length=1, max_length=20_000, multiline=True)
Short = text(min_length=1, max_length=300)
Slug = text(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)
Reason = text(min_length=3, max_length=10_000, multiline=True)
GpuModel = text(max_length=40)
Signer = text(min_length=2, max_length=200)
Comment = text(max_length=20_000, multiline=True)
Language = text(pattern=r"^[a-z]{2}$", max_length=2)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProposalFields(_In):
    title: Short
    abstract: Text
    sector: Slug = Field(description="Sector of the work, e.g. health, energy, language.")
    gpu_hours: int = Field(ge=1, le=100_000_000, description="GPU-hours requested.")
    gpu_model: GpuModel | None = None
    gpu_memory_gb: int | None = Field(default=None, ge=1, le=4096)
    storage_tb: float = Field(default=0.0, ge=0, le=100_000)
    duration_months: int = Field(ge=1, le=60)
    start_on: date
    datasets: list[Short] = Field(default_factory=list, max_length=100)
    languages: list[Language] = Field(
        default_factory=list, max_length=24,
        description="ISO 639-1 codes of the languages the applicant wants support in; the "
                    "referral prefers factories that offer them.")
    intended_system: Text = Field(description="The AI system or model the compute is for.")
    inference_share: float = Field(default=0.0, ge=0, le=1,
                                   description="Share of the GPU-hours used for inference.")
    civilian_use: bool
    confidential: bool = False
    ethics_commitment: EthicsCommitment | None = None
    ethics_signed_by: Signer | None = None

    @model_validator(mode="after")
    def _signed(self) -> ProposalFields:
        if (self.ethics_commitment is None) != (self.ethics_signed_by is None):
            raise ValueError("an ethics commitment and the name of who signed it go together")
        return self


class ProposalCreate(ProposalFields):
    organisation_id: int
    mode: Slug
    # What a Playground applicant does next, in the same request and transaction: attach the
    # AI Act self-assessment and submit (the checks run and an automatic mode decides).
    self_assessment_id: int | None = Field(
        default=None, description="Attach this AI Act self-assessment of the same organisation "
                                  "(as PUT /proposals/{id}/self-assessment).")
    submit: bool = Field(
        default=False, description="Submit at once (as POST /proposals/{id}/submit): the "
                                   "admission checks run and an automatic mode is decided in "
                                   "this request. Nothing is kept if any step fails.")


# ProposalCreate's fields that are steps after drafting, not columns of the proposal.
FOLLOW_UPS = frozenset({"self_assessment_id", "submit"})


class ProposalUpdate(_In):
    """Fields of a draft that may change; omitted ones stay."""

    title: Short | None = None
    abstract: Text | None = None
    sector: Slug | None = None
    gpu_hours: int | None = Field(default=None, ge=1, le=100_000_000)
    gpu_model: GpuModel | None = None
    gpu_memory_gb: int | None = Field(default=None, ge=1, le=4096)
    storage_tb: float | None = Field(default=None, ge=0, le=100_000)
    duration_months: int | None = Field(default=None, ge=1, le=60)
    start_on: date | None = None
    datasets: list[Short] | None = Field(default=None, max_length=100)
    languages: list[Language] | None = Field(default=None, max_length=24)
    intended_system: Text | None = None
    inference_share: float | None = Field(default=None, ge=0, le=1)
    civilian_use: bool | None = None
    confidential: bool | None = None
    ethics_commitment: EthicsCommitment | None = None
    ethics_signed_by: Signer | None = None
    mode: Slug | None = None


class CheckRead(_Out):
    check: str
    passed: bool
    rule: str
    message: str
    attempt: int
    ran_at: datetime


class ReviewRead(_Out):
    id: int
    proposal_id: int
    reviewer_id: int | None  # hidden from applicants
    kind: ReviewKind
    state: ReviewState
    scores: dict[str, int]
    weighted_score: float | None
    comment_to_applicant: str
    private_comment: str | None = None  # hidden from applicants
    conflict_reason: str | None = None
    submitted_at: datetime | None


class ProposalRead(_Out):
    id: int
    reference: str | None
    organisation_id: int
    mode: str
    state: ProposalState
    title: str
    abstract: str
    sector: str
    gpu_hours: int
    gpu_model: str | None
    gpu_memory_gb: int | None
    storage_tb: float
    duration_months: int
    start_on: date
    datasets: list[str]
    languages: list[str]
    intended_system: str
    inference_share: float
    civilian_use: bool
    confidential: bool
    ethics_commitment: EthicsCommitment | None
    ethics_signed_by: str | None
    created_at: datetime
    submitted_at: datetime | None
    cutoff_at: datetime | None
    decision_due_at: datetime | None
    decided_at: datetime | None
    decision: DecisionOutcome | None
    decision_reasons: str
    gpu_hours_granted: int | None
    appeal_reason: str | None
    policy_versions: dict[str, str]
    checks: list[CheckRead] = Field(default_factory=list)
    reviews: list[ReviewRead] = Field(default_factory=list)
    allocation_ids: list[int] = Field(default_factory=list)


class ReasonIn(_In):
    reason: Reason


class AppealDecision(_In):
    reopen: bool = Field(description="True: back into review; false: the rejection stands.")
    reason: Reason


class DecisionIn(_In):
    outcome: DecisionOutcome
    reasons: Reason
    gpu_hours_granted: int | None = Field(default=None, ge=1)
    factory: Slug | None = Field(default=None, description="Place it here instead of the "
                                 "referral's first choice (needs override_reason).")
    partition: Slug | None = None
    override_reason: Reason | None = Field(default=None, description="Why the referral's "
                                           "first choice is overridden; audited.")

    @model_validator(mode="after")
    def _granted(self) -> DecisionIn:
        if self.outcome is DecisionOutcome.accept_reduced and self.gpu_hours_granted is None:
            raise ValueError("accepting with less needs gpu_hours_granted")
        if self.outcome is DecisionOutcome.reject and self.gpu_hours_granted is not None:
            raise ValueError("a rejection grants no GPU-hours")
        return self


class ReviewAssign(_In):
    reviewer_id: int
    kind: ReviewKind


class ReviewSubmit(_In):
    scores: dict[Slug, int] = Field(min_length=1)
    comment_to_applicant: Comment = ""
    private_comment: Comment = ""


class DirectAllocationCreate(ProposalFields):
    """A strategic or emergency allocation, made by an access officer without a call."""

    organisation_id: int
    mode: Slug
    reasons: Reason
    factory: Slug | None = None
    partition: Slug | None = None
    override_reason: Reason | None = None


class SiteShare(_In):
    factory: Slug
    partition: Slug
    gpu_hours: float = Field(ge=0, le=100_000_000, description="This site's part of the grant; "
                             "0 makes the allocation valid there without holding capacity.")


class AllocationSitesIn(_In):
    """Move or split an allocation over factories (access officers)."""

    sites: list[SiteShare] = Field(min_length=1, max_length=12)
    reason: Reason


class AllocationSiteRead(_Out):
    factory: str
    partition: str
    gpu_hours_committed: float
    home: bool


class AllocationRead(_Out):
    id: int
    proposal_id: int
    organisation_id: int
    factory: str
    partition: str
    gpu_hours: int
    gpu_hours_used: float
    gpu_hours_left: float
    storage_tb: float
    start_on: date
    end_on: date
    priority_class: str
    state: AllocationState
    created_at: datetime
    placement_reason: str = ""
    sites: list[AllocationSiteRead] = Field(default_factory=list)


class CutoffRelease(_In):
    mode: Slug


class CutoffReleased(BaseModel):
    mode: str
    released: list[int] = Field(default_factory=list)
