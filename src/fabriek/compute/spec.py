"""What a user asks to run: validated before it goes anywhere.

User text (command arguments, script, environment values) is carried as data and quoted when
the batch script is built (compute.script); names that end up as identifiers are restricted.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Set by the executor; a user value would lie to the program about its resources.
# Bash refuses to export some (UID, SHELLOPTS...); the dynamic loader and iconv obey others.
RESERVED_ENV = re.compile(r"^(CUDA_VISIBLE_DEVICES|GPU_DEVICE_ORDINAL|ROCR_VISIBLE_DEVICES|"
                          r"FABRIEK_.*|SLURM_.*|SBATCH_.*|LD_.*|GCONV_PATH|BASH_ENV|ENV|"
                          r"UID|EUID|PPID|SHELLOPTS|BASHOPTS|BASH_.*|IFS)$")
MAX_ARGV_BYTES = 1 << 20  # well under the kernel's ~2 MiB for argv and environment together
IMAGE = r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"

MAX_TIME_LIMIT_MINUTES = 7 * 24 * 60


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(pattern=NAME)] = Field(
        description="Letters, digits, '.', '_' and '-'; up to 64 characters.")
    allocation_id: int = Field(description="The allocation the job's GPU-hours are charged to.")
    command: list[Annotated[str, StringConstraints(max_length=4096)]] | None = Field(
        default=None, min_length=1, max_length=256,
        description="Program and arguments, run without a shell (argv).")
    script: Annotated[str, StringConstraints(min_length=1, max_length=1 << 20)] | None = Field(
        default=None, description="A bash script, run as a file of its own.")
    image: Annotated[str, StringConstraints(pattern=IMAGE, max_length=256)] | None = Field(
        default=None, description="Container image to run in (passed to the executor).")
    gpus: int = Field(default=1, ge=0, le=64, description="GPUs for the whole job.")
    nodes: int = Field(default=1, ge=1, le=16)
    cpus: int = Field(default=1, ge=1, le=256, description="CPU cores per node.")
    memory_mb: int = Field(default=4096, ge=64, le=4_194_304, description="Memory per node.")
    time_limit_minutes: int = Field(ge=1, le=MAX_TIME_LIMIT_MINUTES)
    env: dict[str, Annotated[str, StringConstraints(max_length=32_768)]] = Field(
        default_factory=dict, max_length=128)
    datasets: list[Annotated[str, StringConstraints(pattern=NAME)]] = Field(
        default_factory=list, max_length=32, description="Datasets to stage next to the job.")
    model: Annotated[str, StringConstraints(pattern=NAME)] | None = Field(
        default=None, description="The model this job trains, for the AI Act compute ledger.")

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for arg in value:
                _no_nul(arg)
            if not value[0].strip():
                raise ValueError("the program name cannot be empty")
            if sum(len(a.encode()) + 1 for a in value) > MAX_ARGV_BYTES:
                raise ValueError(f"the command is longer than {MAX_ARGV_BYTES} bytes; put it in "
                                 "a script instead")
        return value

    @field_validator("script")
    @classmethod
    def _script(cls, value: str | None) -> str | None:
        return None if value is None else _no_nul(value)

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
            if RESERVED_ENV.match(name):
                raise ValueError(f"{name} is set by the platform and cannot be given")
            _no_nul(text)
        return value

    @model_validator(mode="after")
    def _one_program(self) -> JobSpec:
        if (self.command is None) == (self.script is None):
            raise ValueError("give either a command (argv) or a script, not both or neither")
        if self.gpus % self.nodes:
            raise ValueError(f"{self.gpus} GPUs cannot be spread evenly over {self.nodes} nodes")
        return self

    @property
    def worst_case_gpu_hours(self) -> float:
        """What the job may use at most: all its GPUs for its whole time limit."""
        return self.gpus * self.time_limit_minutes / 60
