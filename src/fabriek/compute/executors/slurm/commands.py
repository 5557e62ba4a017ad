"""Slurm's command-line tools as build() + parse() pairs: pure, testable without a cluster.

build() returns an argv list (run without a shell, so user text is never shell code);
env() the variables the command needs on top of the caller's; parse() turns stdout into data.
The executor uses them where REST cannot do the job (scontrol requeue; scontrol release where
slurmrestd serves no job update; sacct when slurmrestd serves no slurmdb plugin, or for the exit
code Slurm 22.05's slurmdb REST gets wrong) and provision.py uses sacctmgr.
sbatch/squeue/scancel complete the set for hosts without REST.

Times: SLURM_TIME_FORMAT=%s makes squeue and sacct print epoch seconds, so nothing depends on
the cluster's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

EPOCH_TIMES = {"SLURM_TIME_FORMAT": "%s"}


class CommandFailed(Exception):
    """A Slurm command exited non-zero; carries what it printed."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(f"{argv[0]} exited {returncode}: {self.stderr[-500:]}")


def _rows(stdout: str, columns: Sequence[str], delimiter: str = "|") -> list[dict[str, str]]:
    """Split delimiter-separated lines; the last column takes any extra delimiters."""
    rows = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        values = line.rstrip(delimiter).split(delimiter, len(columns) - 1)
        values += [""] * (len(columns) - len(values))
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


@dataclass(frozen=True)
class Sbatch:
    """sbatch --parsable; the script is fed on stdin. The job's environment is exactly env()
    (with --export=ALL sbatch passes its own environment, which we set), so no value is ever
    spliced into an --export list where a comma would break it."""

    name: str
    time_limit_minutes: int
    nodes: int = 1
    cpus_per_task: int = 1
    memory_per_node_mb: int | None = None
    gpus_per_node: int = 0
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    working_directory: str | None = None
    standard_output: str | None = None
    standard_error: str | None = None
    comment: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    hold: bool = False

    def build(self) -> list[str]:
        argv = ["sbatch", "--parsable", f"--job-name={self.name}",
                f"--time={self.time_limit_minutes}", f"--nodes={self.nodes}",
                f"--ntasks={self.nodes}", f"--cpus-per-task={self.cpus_per_task}",
                "--requeue", "--open-mode=append", "--export=ALL"]
        if self.memory_per_node_mb is not None:
            argv.append(f"--mem={self.memory_per_node_mb}")
        if self.gpus_per_node:
            argv.append(f"--gres=gpu:{self.gpus_per_node}")
        if self.hold:
            argv.append("--hold")
        options = {"--partition": self.partition, "--account": self.account,
                   "--qos": self.qos, "--chdir": self.working_directory,
                   "--output": self.standard_output, "--error": self.standard_error,
                   "--comment": self.comment}
        argv += [f"{option}={value}" for option, value in options.items() if value]
        return argv

    def env(self) -> dict[str, str]:
        return dict(self.environment)

    @staticmethod
    def parse(stdout: str) -> str:
        """'123' or '123;cluster' -> '123'."""
        first = stdout.strip().splitlines()[0] if stdout.strip() else ""
        job_id = first.split(";")[0].strip()
        if not job_id.isdigit():
            raise ValueError(f"sbatch printed no job id: {stdout.strip()[:200]!r}")
        return job_id


@dataclass(frozen=True)
class Squeue:
    """squeue -O with '|' after every field: no width, so nothing is truncated."""

    job_ids: Sequence[str] = ()
    all_states: bool = True  # include finished jobs slurmctld still holds (MinJobAge)

    COLUMNS = ("JobID", "State", "Reason", "Restarts", "Submit", "Start", "End",
               "TresPerNode", "Name", "Comment")
    FIELDS = ("JobID", "State", "Reason", "RestartCnt", "SubmitTime", "StartTime", "EndTime",
              "tres-per-node", "Name", "Comment")

    def build(self) -> list[str]:
        argv = ["squeue", "--noheader", "--Format=" + ",".join(f"{f}:|" for f in self.FIELDS)]
        if self.all_states:
            argv.append("--states=all")
        if self.job_ids:
            argv.append("--jobs=" + ",".join(self.job_ids))
        return argv

    def env(self) -> dict[str, str]:
        return dict(EPOCH_TIMES)

    @classmethod
    def parse(cls, stdout: str) -> list[dict[str, str]]:
        rows = _rows(stdout, cls.COLUMNS)
        for row in rows:
            if row["Comment"] == "(null)":
                row["Comment"] = ""
        return rows


@dataclass(frozen=True)
class Scancel:
    job_id: str
    signal: str | None = None  # None: cancel (SIGTERM, then SIGKILL after KillWait)

    def build(self) -> list[str]:
        argv = ["scancel"]
        if self.signal:
            argv.append(f"--signal={self.signal}")
        return [*argv, self.job_id]

    @staticmethod
    def parse(stdout: str) -> None:
        return None


@dataclass(frozen=True)
class ScontrolRequeue:
    """scontrol requeue: stop a running job and put it back in the queue (same job id)."""

    job_id: str

    def build(self) -> list[str]:
        return ["scontrol", "requeue", self.job_id]

    @staticmethod
    def parse(stdout: str) -> None:
        return None


@dataclass(frozen=True)
class ScontrolRelease:
    """scontrol release: lift the hold of a job submitted held (its datasets are staged)."""

    job_id: str

    def build(self) -> list[str]:
        return ["scontrol", "release", self.job_id]

    @staticmethod
    def parse(stdout: str) -> None:
        return None


@dataclass(frozen=True)
class Sacct:
    """sacct -X -P: one line per job allocation (no steps), '|'-separated, no header."""

    job_ids: Sequence[str] = ()
    start: str | None = None  # -S: sacct's default is today 00:00; give a window
    users: Sequence[str] = ()
    all_users: bool = False
    duplicates: bool = False  # every run of a requeued job, not only the last

    COLUMNS = ("JobID", "JobName", "State", "ExitCode", "Submit", "Start", "End", "AllocTRES",
               "Reason", "Comment")

    def build(self) -> list[str]:
        argv = ["sacct", "--allocations", "--parsable2", "--noheader",
                "--format=" + ",".join(self.COLUMNS)]
        if self.job_ids:
            argv.append("--jobs=" + ",".join(self.job_ids))
        if self.start:
            argv.append(f"--starttime={self.start}")
        if self.all_users:
            argv.append("--allusers")
        elif self.users:
            argv.append("--user=" + ",".join(self.users))
        if self.duplicates:
            argv.append("--duplicates")
        return argv

    def env(self) -> dict[str, str]:
        return dict(EPOCH_TIMES)

    @classmethod
    def parse(cls, stdout: str) -> list[dict[str, str]]:
        return _rows(stdout, cls.COLUMNS)


@dataclass(frozen=True)
class Sacctmgr:
    """sacctmgr --immediate (no confirmation prompt) with one verb; --parsable2 for lists."""

    words: Sequence[str]

    def build(self) -> list[str]:
        return ["sacctmgr", "--immediate", "--parsable2", "--noheader", *self.words]

    @staticmethod
    def parse(stdout: str) -> list[list[str]]:
        return [line.split("|") for line in stdout.splitlines() if line.strip()]

    @staticmethod
    def nothing_changed(error: CommandFailed) -> bool:
        """sacctmgr exits 1 with 'Nothing new added' / 'Nothing modified' when the change
        is already in place: success for an idempotent caller."""
        text = error.stderr.lower()
        return any(phrase in text for phrase in (
            "nothing new added", "nothing modified", "already exists", "nothing deleted"))
