"""The observatory's figures as the API returns them (JSON), shared by the client, the CLI and
the portal. Hours and GPU-hours are rounded to 3 decimals, shares to 6; the CSV downloads
carry the same numbers (fabriek.observatory.tables)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fabriek.observatory.metrics import PERCENTILE_METHOD


class WindowRead(BaseModel):
    starts_at: datetime
    ends_at: datetime
    days: int = Field(description="Length of the window for utilisation and queue waits.")


class ModeTimingRead(BaseModel):
    mode: str = Field(description="Access mode id (policy/access-modes.yaml).")
    label: str
    started: int = Field(description="Submitted proposals with a job that has started.")
    waiting: int = Field(description="Submitted proposals, not rejected or withdrawn, with no "
                                      "job started yet; not in the percentiles.")
    median_hours: float | None = Field(description="Hours from submission to the first job "
                                                   "running; null without any.")
    p90_hours: float | None


class TimeToFirstJob(BaseModel):
    percentile_method: str = PERCENTILE_METHOD
    modes: list[ModeTimingRead]


class HoursGroupRead(BaseModel):
    key: str = Field(description="Organisation type, ISO 3166-1 country code, sector id, or "
                                 "factory id (`not-allocated`: requested, never allocated).")
    label: str
    proposals: int = Field(description="Submitted proposals counted in `requested_gpu_hours`.")
    requested_gpu_hours: float
    allocated_gpu_hours: float
    used_gpu_hours: float


class GpuHours(BaseModel):
    """Requested: GPU-hours asked for by submitted proposals (rejected ones included).
    Allocated: the grants of their allocations (revoked ones excluded). Used: what their jobs
    used, earlier runs of pre-empted jobs included. Organisation type as classified on the
    day the proposal was submitted."""

    total: HoursGroupRead
    by_organisation_type: list[HoursGroupRead]
    by_country: list[HoursGroupRead]
    by_sector: list[HoursGroupRead]
    by_factory: list[HoursGroupRead] = Field(description="Allocated where the grant is held, "
                                                         "used where the jobs ran.")


class FactoryLoadRead(BaseModel):
    factory: str
    name: str
    gpus: int = Field(description="GPUs of its partitions connected to this installation.")
    capacity_gpu_hours: float = Field(description="GPUs × hours of the window.")
    used_gpu_hours: float = Field(description="Jobs' GPU-hours inside the window.")
    utilisation: float | None = Field(description="Used ÷ capacity, 0 to 1.")
    jobs_started: int = Field(description="Jobs whose first start fell in the window.")
    wait_median_hours: float | None = Field(description="From the scheduler taking the job "
                                                        "to its first start.")
    wait_p90_hours: float | None


class FactoryLoads(BaseModel):
    window: WindowRead
    percentile_method: str = PERCENTILE_METHOD
    factories: list[FactoryLoadRead]


class StartupShareRead(BaseModel):
    allocated_gpu_hours: float
    startups_gpu_hours: float
    smes_gpu_hours: float = Field(description="SMEs that are not start-ups.")
    share_startups: float | None = Field(description="0 to 1; null when nothing is allocated.")
    share_startups_and_smes: float | None


class ThresholdRead(BaseModel):
    exponent: int
    flop: float
    meaning: str
    models: int = Field(description="Models at or over it.")


class ModelPastRead(BaseModel):
    model: str = Field(description="`confidential` when it ran on a confidential proposal.")
    organisation: str
    flop: float
    basis: str = Field(description="estimate, measured-utilisation or reported.")
    threshold: str = Field(description="The highest threshold reached, e.g. 1e25.")


class AiActModels(BaseModel):
    thresholds: list[ThresholdRead]
    models: list[ModelPastRead]


class ObservatoryRead(BaseModel):
    """Every figure of the programme's public dashboard."""

    generated_at: datetime
    time_to_first_job: TimeToFirstJob
    gpu_hours: GpuHours
    factories: FactoryLoads
    startup_share: StartupShareRead
    ai_act_models: AiActModels
