"""What differs between slurmrestd API versions, in one place.

FEATURES is the only version table: feature -> the first REST API (data_parser) version that has
it, or None where no version has it. Everything else asks `supports(version, feature)`.

Versions and Slurm releases: v0.0.38 = 22.05 (Debian 12, our dev cluster), v0.0.39 = 23.02,
v0.0.40 = 23.11, v0.0.41 = 24.05, v0.0.42 = 24.11, v0.0.43 = 25.05, v0.0.44 = 25.11. Only v0.0.38
is exercised against a real cluster here; the rest follows Slurm's published OpenAPI schemas and
release notes (https://slurm.schedmd.com/rest_release_notes.html).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

ApiVersion = tuple[int, int, int]


class Feature(StrEnum):
    # 0.0.39: integers that may be unset/infinite become {"set", "infinite", "number"}
    no_val_numbers = "no_val_numbers"
    # 0.0.39: job_desc_msg.environment is a list of "NAME=value" (0.0.38: a dict)
    environment_list = "environment_list"
    # 0.0.39: the batch script may go inside the job object (job.script); the top-level
    # "script" is deprecated from 0.0.41 (and un-deprecated again in 25.11)
    script_in_job = "script_in_job"
    # 0.0.39: job_desc_msg has no "gres" or "gpus_per_node"; GPUs go in tres_per_node
    gpus_as_tres = "gpus_as_tres"
    # 0.0.39: node counts as minimum_nodes/maximum_nodes (0.0.38: "nodes": [min, max])
    node_count_min_max = "node_count_min_max"
    # 0.0.39: open_mode is a list of flags (["APPEND"]); 0.0.38: "append" / "truncate"
    open_mode_flags = "open_mode_flags"
    # 0.0.40: job_state is a list (base state + flags) and exit_code is
    # {status, return_code, signal}; 0.0.38/39 give a string and a raw wait status
    job_state_list = "job_state_list"
    verbose_exit_code = "verbose_exit_code"
    # 0.0.40: the collection endpoints end in "/" (/jobs/, /ping/); 0.0.38 has no slash
    trailing_slash = "trailing_slash"
    # 0.0.36: accounting (sacct) under /slurmdb/vX/ when slurmrestd loads the dbv plugins
    slurmdb = "slurmdb"
    # 0.0.40: GET /slurmdb/vX/jobs/ takes start_time as a UNIX timestamp and filters by
    # users=; 0.0.38 wants a date ("2026-11-21T00:00:00") and has no user filter
    slurmdb_epoch_query = "slurmdb_epoch_query"
    # No version up to 0.0.44 can requeue a job over REST: scontrol requeue (CLI) only
    rest_requeue = "rest_requeue"


FEATURES: Mapping[Feature, ApiVersion | None] = {
    Feature.slurmdb: (0, 0, 36),
    Feature.slurmdb_epoch_query: (0, 0, 40),
    Feature.no_val_numbers: (0, 0, 39),
    Feature.environment_list: (0, 0, 39),
    Feature.script_in_job: (0, 0, 39),
    Feature.gpus_as_tres: (0, 0, 39),
    Feature.node_count_min_max: (0, 0, 39),
    Feature.open_mode_flags: (0, 0, 39),
    Feature.job_state_list: (0, 0, 40),
    Feature.verbose_exit_code: (0, 0, 40),
    Feature.trailing_slash: (0, 0, 40),
    Feature.rest_requeue: None,
}

OLDEST: ApiVersion = (0, 0, 38)  # what we test against; older versions are not supported

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def parse_version(text: str) -> ApiVersion:
    """'0.0.38' or 'v0.0.38' -> (0, 0, 38). Raises ValueError for anything else."""
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"not a slurmrestd API version: {text!r} (expected e.g. 0.0.38)")
    version = (int(match[1]), int(match[2]), int(match[3]))
    if version < OLDEST:
        raise ValueError(f"slurmrestd API v{format_version(version)} is older than the oldest "
                         f"supported, v{format_version(OLDEST)}")
    return version


def format_version(version: ApiVersion) -> str:
    return ".".join(str(part) for part in version)


def supports(version: ApiVersion, feature: Feature) -> bool:
    first = FEATURES[feature]
    return first is not None and version >= first


@dataclass(frozen=True)
class ApiPaths:
    """URL paths for one API version."""

    version: ApiVersion

    def _base(self, kind: str) -> str:
        return f"/{kind}/v{format_version(self.version)}"

    def _collection(self, kind: str, name: str) -> str:
        slash = "/" if supports(self.version, Feature.trailing_slash) else ""
        return f"{self._base(kind)}/{name}{slash}"

    @property
    def ping(self) -> str:
        return self._collection("slurm", "ping")

    @property
    def jobs(self) -> str:
        return self._collection("slurm", "jobs")

    @property
    def submit(self) -> str:
        return f"{self._base('slurm')}/job/submit"

    def job(self, external_id: str) -> str:
        return f"{self._base('slurm')}/job/{external_id}"

    @property
    def db_jobs(self) -> str:
        return self._collection("slurmdb", "jobs")

    def db_job(self, external_id: str) -> str:
        return f"{self._base('slurmdb')}/job/{external_id}"


def db_jobs_query(version: ApiVersion, *, since: float, user: str, cluster: str | None
                  ) -> dict[str, str]:
    """Query parameters of GET /slurmdb/vX/jobs for one user's jobs since an epoch time."""
    params: dict[str, str] = {}
    if supports(version, Feature.slurmdb_epoch_query):
        params.update(start_time=str(int(since)), users=user)
    else:
        # read in slurmdbd's time zone; a window of days makes the offset irrelevant
        params["start_time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since))
    if cluster:
        params["cluster"] = cluster
    return params


def number(value: int, version: ApiVersion) -> int | dict[str, Any]:
    """An integer field of a request body in this version's shape."""
    # slurmrestd >= 0.0.39 wraps numbers that may be unset or infinite
    if supports(version, Feature.no_val_numbers):
        return {"set": True, "infinite": False, "number": value}
    return value


def environment(env: Mapping[str, str], version: ApiVersion) -> dict[str, str] | list[str]:
    # slurmrestd >= 0.0.39 takes the environment as a list of NAME=value strings
    if supports(version, Feature.environment_list):
        return [f"{name}={value}" for name, value in env.items()]
    return dict(env)


@dataclass(frozen=True)
class SubmitRequest:
    """Everything a batch job needs, independent of the API version."""

    script: str
    name: str
    partition: str | None
    account: str | None
    qos: str | None
    gpus_per_node: int
    nodes: int
    cpus_per_task: int
    memory_per_node_mb: int
    time_limit_minutes: int
    environment: Mapping[str, str]
    working_directory: str
    standard_output: str
    standard_error: str
    comment: str
    hold: bool = False  # submitted held (priority 0): released once its datasets are staged


def submit_body(request: SubmitRequest, version: ApiVersion) -> dict[str, Any]:
    """The JSON body of POST /slurm/vX/job/submit."""
    job: dict[str, Any] = {
        "name": request.name,
        "tasks": request.nodes,  # one task per node: the script runs once per node's allocation
        "cpus_per_task": request.cpus_per_task,
        "memory_per_node": number(request.memory_per_node_mb, version),
        "time_limit": number(request.time_limit_minutes, version),
        "environment": environment(request.environment, version),
        "current_working_directory": request.working_directory,
        "standard_output": request.standard_output,
        "standard_error": request.standard_error,
        "comment": request.comment,
        # requeue-able, whatever the site's JobRequeue default: needed for QOS pre-emption
        # in REQUEUE mode and for scontrol requeue
        "requeue": True,
    }
    if request.hold:
        # every version: sbatch's --hold; slurmctld answers ESLURM_JOB_HELD (2042) in errors[]
        # next to the new job's id, which is no refusal (the executor tolerates it)
        job["hold"] = True
    for key in ("partition", "account", "qos"):
        value = getattr(request, key)
        if value:
            job[key] = value
    if supports(version, Feature.node_count_min_max):
        job["minimum_nodes"] = request.nodes
        job["maximum_nodes"] = request.nodes
    else:
        job["nodes"] = [request.nodes, request.nodes]
    if request.gpus_per_node:
        # slurmrestd >= 0.0.39 has no "gres" field in job_desc_msg ("Ignoring unknown field")
        if supports(version, Feature.gpus_as_tres):
            job["tres_per_node"] = f"gres/gpu:{request.gpus_per_node}"
        else:
            job["gres"] = f"gpu:{request.gpus_per_node}"
    # append, so a requeued (pre-empted) job keeps the output of its earlier runs
    job["open_mode"] = ["APPEND"] if supports(version, Feature.open_mode_flags) else "append"
    # slurmrestd >= 0.0.41 takes the script inside the job object (the top-level field is
    # deprecated); job.script is accepted from 0.0.39
    if supports(version, Feature.script_in_job):
        job["script"] = request.script
        return {"job": job}
    return {"script": request.script, "job": job}


def release_body(version: ApiVersion) -> dict[str, Any]:
    """The body of POST /slurm/vX/job/{id} that lifts the user hold of a job submitted held.

    The same in every version: job_desc_msg's "hold" is "hold (true) or release (false)".
    Exercised on 0.0.38 (Slurm 22.05) as the job's own, unprivileged user; it does what
    `scontrol release` does (priority INFINITE: the scheduler computes it again).
    """
    return {"hold": False}
