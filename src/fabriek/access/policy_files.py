"""Schemas of the access policy files, validated at load (see fabriek/policy/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fabriek.access.enums import ApplicantCategory, DecidedBy, ProcedureKind, ReviewKind
from fabriek.kit.policydata import read_policy

# Kosovo has no ISO 3166-1 code; XK is the user-assigned code the Commission uses.
USER_ASSIGNED_CODES = frozenset({"XK"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_country_code(code: str) -> bool:
    return code in USER_ASSIGNED_CODES or pycountry.countries.get(alpha_2=code) is not None


# --- eligibility.yaml -------------------------------------------------------------------------


class Country(_Strict):
    code: str
    name: str
    since: str | None = None
    source: str | None = None
    note: str | None = None

    @field_validator("code")
    @classmethod
    def _iso(cls, v: str) -> str:
        if v != v.upper() or not is_country_code(v):
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 code")
        return v


class CountryGroup(_Strict):
    id: str
    label: str
    basis: str
    source: str
    checked_on: date
    countries: list[Country]
    note: str | None = None

    @model_validator(mode="after")
    def _unique(self) -> CountryGroup:
        codes = [c.code for c in self.countries]
        if len(codes) != len(set(codes)):
            raise ValueError(f"group {self.id}: a country is listed twice")
        return self


class EligibilityPolicy(_Strict):
    kind: Literal["eligibility"]
    version: str
    valid_from: date
    summary: str
    groups: list[CountryGroup] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_groups(self) -> EligibilityPolicy:
        ids = [g.id for g in self.groups]
        if len(ids) != len(set(ids)):
            raise ValueError("group ids must be unique")
        return self


# --- classification.yaml ----------------------------------------------------------------------


class SizeCeiling(_Strict):
    staff_below: int = Field(gt=0)  # "fewer than"
    turnover_max_eur: Decimal = Field(gt=0)
    balance_sheet_max_eur: Decimal = Field(gt=0)


class ClassificationPolicy(_Strict):
    kind: Literal["classification"]
    version: str
    valid_from: date
    source: str
    micro: SizeCeiling
    small: SizeCeiling
    medium: SizeCeiling
    public_control_excludes_sme: bool = True  # Rec. 2003/361 Annex Art. 3(4)
    startup_max_age_years: int = Field(gt=0)
    startup_source: str

    @model_validator(mode="after")
    def _ordered(self) -> ClassificationPolicy:
        if not (self.micro.staff_below <= self.small.staff_below <= self.medium.staff_below):
            raise ValueError("size ceilings must grow from micro to small to medium")
        return self


# --- access-modes.yaml ------------------------------------------------------------------------


class Roll(StrEnum):
    following = "following"  # a weekend day moves to the next Monday
    preceding = "preceding"  # a weekend day moves to the Friday before


class CutoffRule(_Strict):
    day: int = Field(ge=-1, le=28, description="Day of month; -1 is the last day.")
    roll: Roll = Roll.following
    months: list[int] | None = None

    @field_validator("day")
    @classmethod
    def _nonzero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("day 0 does not exist; use -1 for the last day of the month")
        return v


class CutoffSchedule(_Strict):
    timezone: str = "Europe/Brussels"
    time: time
    dates: list[date] = Field(default_factory=list)  # published dates; they win in their year
    rules: list[CutoffRule] = Field(default_factory=list)
    source: str | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _something(self) -> CutoffSchedule:
        if not self.dates and not self.rules:
            raise ValueError("a cut-off schedule needs dates or rules")
        return self


class Criterion(_Strict):
    id: str
    label: str
    weight: float = Field(default=1.0, gt=0)


class ReviewRequirement(_Strict):
    kind: ReviewKind
    count: int = Field(ge=1)
    criteria: list[Criterion] = Field(min_length=1)


class TimeUnit(StrEnum):
    minutes = "minutes"
    hours = "hours"
    working_days = "working-days"
    calendar_days = "calendar-days"


class DecisionTarget(_Strict):
    amount: int = Field(ge=0)
    unit: TimeUnit
    counted_from: Literal["submission", "cutoff"] = "submission"


class Procedure(_Strict):
    kind: ProcedureKind
    reviews: list[ReviewRequirement] = Field(default_factory=list)
    decided_by: DecidedBy
    score_scale: tuple[int, int] = (1, 5)
    min_average_score: float | None = None  # below it, reviewers recommend rejection

    @model_validator(mode="after")
    def _coherent(self) -> Procedure:
        if self.kind is ProcedureKind.review and not self.reviews:
            raise ValueError("a review procedure needs at least one review requirement")
        if self.kind is not ProcedureKind.review and self.reviews:
            raise ValueError(f"a {self.kind} procedure takes no reviews")
        if self.kind is ProcedureKind.automatic and self.decided_by is not DecidedBy.automatic:
            raise ValueError("an automatic procedure is decided automatically")
        if self.kind is not ProcedureKind.automatic and self.decided_by is DecidedBy.automatic:
            raise ValueError(f"a {self.kind} procedure is decided by a person")
        return self


class PriorityClass(_Strict):
    id: str
    rank: int = Field(description="Higher runs first.")
    slurm_qos: str
    preempts_lower: bool = False


class AccessMode(_Strict):
    id: str
    code: str = Field(pattern=r"^[A-Z]{2}$", description="Two letters in proposal references.")
    label: str
    track: str
    description: str
    who_may_apply: list[ApplicantCategory] = Field(min_length=1)
    initiated_by: Literal["applicant", "access-officer"] = "applicant"
    gpu_hours_min: int = Field(default=1, ge=1)
    gpu_hours_max: int | None = Field(default=None, ge=1)
    storage_tb_max: float | None = Field(default=None, ge=0)
    durations_months: list[int] = Field(min_length=1)
    inference_share_max: float | None = Field(default=None, ge=0, le=1)
    procedure: Procedure
    cutoffs: CutoffSchedule | None = None
    target_decision: DecisionTarget
    priority_class: str
    source: str

    @model_validator(mode="after")
    def _coherent(self) -> AccessMode:
        if self.gpu_hours_max is not None and self.gpu_hours_max < self.gpu_hours_min:
            raise ValueError(f"mode {self.id}: gpu_hours_max is below gpu_hours_min")
        if (self.procedure.kind is ProcedureKind.direct) != (self.initiated_by == "access-officer"):
            raise ValueError(f"mode {self.id}: direct modes, and only they, are initiated by an "
                             "access officer")
        if self.target_decision.counted_from == "cutoff" and self.cutoffs is None:
            raise ValueError(f"mode {self.id}: decision counted from a cut-off it does not have")
        return self


class AccessModesPolicy(_Strict):
    kind: Literal["access-modes"]
    version: str
    valid_from: date
    priority_classes: list[PriorityClass] = Field(min_length=1)
    modes: list[AccessMode] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> AccessModesPolicy:
        classes = {p.id for p in self.priority_classes}
        if len(classes) != len(self.priority_classes):
            raise ValueError("priority class ids must be unique")
        ids = [m.id for m in self.modes]
        if len(ids) != len(set(ids)):
            raise ValueError("mode ids must be unique")
        for m in self.modes:
            if m.priority_class not in classes:
                raise ValueError(f"mode {m.id}: unknown priority class {m.priority_class!r}")
        return self

    def mode(self, mode_id: str) -> AccessMode | None:
        return next((m for m in self.modes if m.id == mode_id), None)

    def priority(self, class_id: str) -> PriorityClass:
        return next(p for p in self.priority_classes if p.id == class_id)


@dataclass(frozen=True)
class AccessPolicy:
    """Everything the access capability reads from policy files, loaded once at start-up."""

    eligibility: EligibilityPolicy
    classification: ClassificationPolicy
    modes: AccessModesPolicy

    @classmethod
    def load(cls, policy_dir: Path | None = None) -> AccessPolicy:
        return cls(
            eligibility=read_policy("eligibility", EligibilityPolicy, policy_dir),
            classification=read_policy("classification", ClassificationPolicy, policy_dir),
            modes=read_policy("access-modes", AccessModesPolicy, policy_dir),
        )

    def versions(self) -> dict[str, str]:
        return {
            "eligibility": self.eligibility.version,
            "classification": self.classification.version,
            "access-modes": self.modes.version,
        }
