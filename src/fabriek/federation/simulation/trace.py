"""Job traces for what-if capacity planning: the Philly CSV format and Slurm `sacct` exports.

Both formats are documented for operators in federation/data/traces/README.md. Files may be
gzip-compressed (detected from the first bytes, not the name). Rows are read one at a time;
every bad row is collected with its line number and reported in one error, so an operator
fixes a file in one go instead of one line per run.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from fabriek.errors import ValidationFailed

PHILLY_COLUMNS = ("job_id", "submit_time_s", "duration_s", "num_gpus", "num_nodes", "num_cpus",
                  "user", "status")
# The order of the documented command:
# sacct -a -X -P -n --format=JobIDRaw,User,Submit,Start,End,ElapsedRaw,NNodes,AllocTRES,State
SACCT_COLUMNS = ("JobIDRaw", "User", "Submit", "Start", "End", "ElapsedRaw", "NNodes",
                 "AllocTRES", "State")
MAX_REPORTED = 20  # problems listed in the error; the rest are counted
_GPU_TRES = re.compile(r"gres/gpu(:[^=,]+)?=(\d+)")
_NOT_STARTED = {"", "unknown", "none", "n/a"}


@dataclass(frozen=True, slots=True)
class TraceJob:
    id: str
    user: str
    submit_s: int  # seconds after the trace's first submission
    duration_s: int  # time spent running
    gpus: int
    nodes: int
    status: str = ""


class TraceError(ValidationFailed):
    """A trace file that cannot be read; `problems` holds (line number, what is wrong)."""

    def __init__(self, source: str, problems: Sequence[tuple[int, str]], total: int) -> None:
        shown = "; ".join(f"line {n}: {msg}" for n, msg in problems[:MAX_REPORTED])
        more = f" (and {total - MAX_REPORTED} more)" if total > MAX_REPORTED else ""
        super().__init__(f"{source}: {total} bad row(s): {shown}{more}",
                         problems=[{"line": n, "problem": m} for n, m in problems])
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class TraceSummary:
    jobs: int
    users: int
    window_s: int  # last submission minus first
    offered_gpu_hours: float  # Σ GPUs × duration
    max_gpus: int
    skipped: int = 0  # sacct rows that are not GPU jobs or never started


def bundled_trace() -> Path:
    """The Philly trace shipped with Fabriek (15,000 jobs, CC BY 4.0)."""
    ref = resources.files("fabriek.federation") / "data" / "traces" / "philly_15k_jobs.csv.gz"
    return Path(str(ref))


def _open_text(path: Path) -> io.TextIOBase:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def load_trace(path: Path | str) -> tuple[list[TraceJob], TraceSummary]:
    """Read a Philly-format CSV or an sacct export (plain or gzip), sorted by submission."""
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed(f"{path}: no such trace file")
    try:
        with _open_text(path) as lines:
            return parse_trace(lines, source=str(path))
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise ValidationFailed(f"{path}: cannot be read as a trace ({exc})") from exc


def parse_trace(lines: Iterable[str], *, source: str = "trace") -> tuple[list[TraceJob],
                                                                           TraceSummary]:
    """Parse trace text (the format is recognised from the first line)."""
    it = iter(lines)
    first = next(it, None)
    if first is None or not first.strip():
        raise ValidationFailed(f"{source}: the trace is empty")
    head = first.rstrip("\r\n")
    if "|" in head:
        jobs, problems, skipped = _parse_sacct(head, it)
    elif head.split(",")[:1] == ["job_id"]:
        jobs, problems, skipped = _parse_philly(head, it)
    else:
        raise ValidationFailed(
            f"{source}: line 1 is neither the Philly CSV header ({','.join(PHILLY_COLUMNS)}) "
            "nor an sacct -P line (fields separated by '|')")
    if problems:
        raise TraceError(source, problems[:MAX_REPORTED], len(problems))
    if not jobs:
        raise ValidationFailed(f"{source}: no GPU jobs in the trace ({skipped} row(s) skipped)")
    jobs.sort(key=lambda j: j.submit_s)  # stable: equal times keep file order
    origin = jobs[0].submit_s
    if origin:
        jobs = [TraceJob(j.id, j.user, j.submit_s - origin, j.duration_s, j.gpus, j.nodes,
                         j.status) for j in jobs]
    return jobs, summarise(jobs, skipped)


def summarise(jobs: Sequence[TraceJob], skipped: int = 0) -> TraceSummary:
    return TraceSummary(
        jobs=len(jobs), users=len({j.user for j in jobs}),
        window_s=(jobs[-1].submit_s - jobs[0].submit_s) if jobs else 0,
        offered_gpu_hours=sum(j.gpus * j.duration_s for j in jobs) / 3600,
        max_gpus=max((j.gpus for j in jobs), default=0), skipped=skipped)


@dataclass(frozen=True, slots=True)
class Window:
    """The part of the submission period that sizing and utilisation refer to."""

    start_s: int
    end_s: int  # the last submission
    offered_gpu_hours: float  # of the jobs submitted in it

    @property
    def hours(self) -> float:
        return (self.end_s - self.start_s) / 3600


def window(jobs: Sequence[TraceJob], from_quantile: float = 0.0) -> Window:
    """From the submission of the job at `from_quantile` of the trace (0: the first) to the
    last submission. A quantile skips a sparse lead-in (Philly's first 5 % of jobs arrive over
    its first 46 of 58 days), so the load figure describes the period the trace is busy."""
    if not jobs:
        raise ValidationFailed("the trace has no jobs")
    if not 0 <= from_quantile < 1:
        raise ValidationFailed(f"the window quantile must be in [0, 1), not {from_quantile}")
    first = int(from_quantile * (len(jobs) - 1))
    start = jobs[first].submit_s
    offered = sum(j.gpus * j.duration_s for j in jobs if j.submit_s >= start) / 3600
    return Window(start, jobs[-1].submit_s, offered)


def _int(value: str, name: str, minimum: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a whole number") from None
    if number < minimum:
        raise ValueError(f"{name} {number} is below {minimum}")
    return number


def _parse_philly(header: str, rows: Iterator[str]) -> tuple[list[TraceJob], list, int]:
    names = [c.strip() for c in header.split(",")]
    missing = [c for c in PHILLY_COLUMNS if c not in names and c not in ("num_cpus", "status")]
    if missing:
        return [], [(1, f"the header lacks column(s) {', '.join(missing)}")], 0
    at = {c: names.index(c) for c in names}
    jobs: list[TraceJob] = []
    problems: list[tuple[int, str]] = []
    ids: set[str] = set()
    for number, raw in enumerate(rows, start=2):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(names):
            problems.append((number, f"{len(cells)} fields, the header has {len(names)}"))
            continue
        try:
            job = TraceJob(
                id=cells[at["job_id"]].strip(), user=cells[at["user"]].strip(),
                submit_s=_int(cells[at["submit_time_s"]], "submit_time_s", 0),
                duration_s=_int(cells[at["duration_s"]], "duration_s", 0),
                gpus=_int(cells[at["num_gpus"]], "num_gpus", 1),
                nodes=_int(cells[at["num_nodes"]], "num_nodes", 1),
                status=cells[at["status"]].strip() if "status" in at else "")
        except ValueError as exc:
            problems.append((number, str(exc)))
            continue
        if not job.id or not job.user:
            problems.append((number, "job_id and user must not be empty"))
        elif job.id in ids:
            problems.append((number, f"job_id {job.id} appears twice"))
        elif job.nodes > job.gpus:
            problems.append((number, f"{job.nodes} nodes for {job.gpus} GPUs"))
        else:
            ids.add(job.id)
            jobs.append(job)
    return jobs, problems, 0


def _sacct_time(value: str, name: str) -> int | None:
    value = value.strip()
    if value.lower() in _NOT_STARTED:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a time like 2024-05-01T12:00:00") from None
    # sacct prints local time without a zone; reading it as UTC keeps the differences exact
    # (no daylight-saving jumps), and only differences matter here.
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _parse_sacct(first: str, rows: Iterator[str]) -> tuple[list[TraceJob], list, int]:
    """`sacct -P` lines; with or without its header line (`-n` drops it)."""
    cells0 = first.split("|")
    if cells0[0].strip() == "JobIDRaw":
        names, lines, start = [c.strip() for c in cells0], rows, 2
    else:
        names, lines, start = list(SACCT_COLUMNS), _chain(first, rows), 1
    missing = [c for c in SACCT_COLUMNS if c not in names and c not in ("Start", "End", "State")]
    if missing:
        return [], [(1, f"the header lacks column(s) {', '.join(missing)}")], 0
    at = {c: names.index(c) for c in names}
    jobs: list[TraceJob] = []
    problems: list[tuple[int, str]] = []
    skipped = 0
    for number, raw in enumerate(lines, start=start):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        cells = line.split("|")
        if len(cells) < len(names):  # --parsable (not -P) ends lines with '|'
            problems.append((number, f"{len(cells)} fields, expected {len(names)} "
                                     f"({'|'.join(names)})"))
            continue
        job_id = cells[at["JobIDRaw"]].strip()
        if "." in job_id:  # a job step (sacct without -X): its allocation is counted already
            skipped += 1
            continue
        try:
            submit = _sacct_time(cells[at["Submit"]], "Submit")
            started = _sacct_time(cells[at["Start"]], "Start") if "Start" in at else submit
            elapsed = _int(cells[at["ElapsedRaw"]], "ElapsedRaw", 0)
            nodes = _int(cells[at["NNodes"]], "NNodes", 0)
        except ValueError as exc:
            problems.append((number, str(exc)))
            continue
        if submit is None:
            problems.append((number, "Submit is empty"))
            continue
        gpus = tres_gpus(cells[at["AllocTRES"]])
        if started is None or gpus == 0 or nodes == 0:
            skipped += 1  # never ran, or no GPUs: not GPU demand we can replay
            continue
        if nodes > gpus:
            nodes = gpus  # CPU-only helper nodes of a heterogeneous job: count GPU nodes only
        state = cells[at["State"]].strip().split(" ")[0].lower() if "State" in at else ""
        jobs.append(TraceJob(id=job_id, user=cells[at["User"]].strip() or "unknown",
                             submit_s=submit, duration_s=elapsed, gpus=gpus, nodes=nodes,
                             status=state))
    return jobs, problems, skipped


def tres_gpus(tres: str) -> int:
    """GPUs in an AllocTRES field: `gres/gpu=4`, or the sum of typed `gres/gpu:a100=4` entries
    when sacct lists only those (it lists both the total and the typed ones on most sites)."""
    total, typed = None, 0
    for kind, count in _GPU_TRES.findall(tres):
        if kind:
            typed += int(count)
        else:
            total = int(count)
    return total if total is not None else typed


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def replicate(jobs: Sequence[TraceJob], copies: int) -> list[TraceJob]:
    """The trace `copies` times, each copy after the previous one's submissions (shifted by
    the window plus one second) with users and ids renamed (`u001~2`), for throughput runs."""
    if copies < 1:
        raise ValidationFailed(f"--replicate must be at least 1, not {copies}")
    if copies == 1 or not jobs:
        return list(jobs)
    shift = jobs[-1].submit_s - jobs[0].submit_s + 1
    out = list(jobs)
    for k in range(1, copies):
        offset = k * shift
        out.extend(TraceJob(f"{j.id}~{k}", f"{j.user}~{k}", j.submit_s + offset, j.duration_s,
                            j.gpus, j.nodes, j.status) for j in jobs)
    return out
