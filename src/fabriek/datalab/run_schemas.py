"""Request and response bodies of the dataset services."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fabriek.datalab.profiling import ExpectedSchema
from fabriek.datalab.run_models import RunState, ServiceName


class RunRequest(BaseModel):
    """What to run on: one distribution (default: the dataset's newest tabular file), and the
    service's own settings; settings that do not apply to the service are refused."""

    model_config = ConfigDict(extra="forbid")

    distribution_id: int | None = Field(default=None, gt=0)
    purpose: str = Field(default="", max_length=500,
                         description="Why you run it; goes into the dataset's read log.")
    expected_schema: ExpectedSchema | None = Field(
        default=None, description="validate: the columns the file must have, with their rules.")
    max_rows: int | None = Field(default=None, ge=1, le=100_000_000,
                                 description="detect-personal-data: scan only the first rows.")
    rows: int | None = Field(default=None, ge=1, le=1_000_000,
                             description="synthesize: rows to make (default: as many as fitted).")
    fit_rows: int | None = Field(default=None, ge=10, le=50_000,
                                 description="synthesize: rows sampled to learn from (5,000).")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    output_format: Literal["parquet", "csv"] | None = Field(
        default=None, description="synthesize: the file written (Parquet by default).")

    def settings_for(self, service: ServiceName) -> dict[str, Any]:
        """The settings stored on the run; BadRequest-worthy ones raise ValueError."""
        allowed: dict[ServiceName, set[str]] = {
            ServiceName.profile: set(),
            ServiceName.validate: {"expected_schema"},
            ServiceName.convert: set(),
            ServiceName.detect_personal_data: {"max_rows"},
            ServiceName.synthesize: {"rows", "fit_rows", "seed", "output_format"},
        }
        given = {k for k in ("expected_schema", "max_rows", "rows", "fit_rows", "seed",
                             "output_format") if getattr(self, k) is not None}
        extra = given - allowed[service]
        if extra:
            raise ValueError(f"{service.value} takes no {', '.join(sorted(extra))}")
        if service is ServiceName.validate and self.expected_schema is None:
            raise ValueError("validate needs expected_schema: the columns and their rules")
        return self.model_dump(mode="json", include=given)


class RunRead(BaseModel):
    id: int
    dataset: str
    distribution_id: int
    service: ServiceName
    state: RunState
    progress: float
    message: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str
    output_distribution_id: int | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
