"""API shapes of the compute capability."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fabriek.compute.enums import JobState
from fabriek.compute.spec import JobSpec

__all__ = ["AllocationUsage", "JobRead", "JobSpec", "UsageWarningRead"]


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organisation_id: int
    allocation_id: int
    name: str
    spec: dict[str, Any]
    gpus: int
    time_limit_minutes: int
    model: str | None
    factory: str
    partition: str
    executor: str
    priority_class: str
    state: JobState
    external_id: str | None
    reason: str
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    signal: int | None
    gpu_hours_used: float
    worst_case_gpu_hours: float = Field(description="GPUs × time limit, plus earlier runs.")
    preemptions: int
    last_preempted_at: datetime | None
    cancel_requested: bool
    warnings: list[str] = Field(default_factory=list, description="At submission only: AI Act "
                                "compute-ledger warnings (the worst case would carry the model "
                                "over 10^23 or 10^25 FLOP).")


class UsageWarningRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    threshold_percent: int
    gpu_hours_used: float
    message: str
    created_at: datetime


class AllocationUsage(BaseModel):
    allocation_id: int
    organisation_id: int
    factory: str
    partition: str
    priority_class: str
    start_on: date
    end_on: date
    gpu_hours: int
    gpu_hours_used: float = Field(description="Finished jobs plus what running jobs used so far.")
    gpu_hours_committed: float = Field(description="Worst cases of queued and running jobs.")
    gpu_hours_left: float = Field(description="What new jobs may still take (worst case).")
    percent_used: float
    jobs_active: int
    jobs_total: int
    warnings: list[UsageWarningRead]
