"""Trace loading: the Philly CSV format, sacct exports, gzip, and bad rows with line numbers."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

from fabriek.errors import ValidationFailed
from fabriek.federation.simulation.trace import (
    TraceError,
    TraceJob,
    bundled_trace,
    load_trace,
    parse_trace,
    replicate,
    tres_gpus,
    window,
)

pytestmark = pytest.mark.unit

PHILLY = """job_id,submit_time_s,duration_s,num_gpus,num_nodes,num_cpus,user,status
philly-1,100,60,1,1,,u001,completed
philly-2,100,3600,8,1,,u002,failed
philly-3,160,10,16,2,,u001,killed
"""

SACCT_HEADER = "JobIDRaw|User|Submit|Start|End|ElapsedRaw|NNodes|AllocTRES|State"
SACCT_ROWS = [
    "101|alice|2024-05-01T10:00:30|2024-05-01T10:01:00|2024-05-01T11:01:00|3600|1|"
    "billing=8,cpu=8,gres/gpu=4,mem=64G,node=1|COMPLETED",
    "100|bob|2024-05-01T10:00:00|2024-05-01T10:00:05|2024-05-01T10:00:35|30|2|"
    "billing=16,cpu=16,gres/gpu:a100=8,mem=64G,node=2|CANCELLED by 1000",
    "102|carol|2024-05-01T10:02:00|Unknown|Unknown|0|1|billing=1,cpu=1,gres/gpu=1|PENDING",
    "103|dave|2024-05-01T10:03:00|2024-05-01T10:03:00|2024-05-01T10:04:00|60|1|"
    "billing=4,cpu=4,mem=8G,node=1|COMPLETED",
]


def test_philly_rows_become_jobs_sorted_from_zero():
    jobs, summary = parse_trace(PHILLY.splitlines(keepends=True))
    assert jobs == [
        TraceJob("philly-1", "u001", 0, 60, 1, 1, "completed"),
        TraceJob("philly-2", "u002", 0, 3600, 8, 1, "failed"),
        TraceJob("philly-3", "u001", 60, 10, 16, 2, "killed"),
    ]
    assert (summary.jobs, summary.users, summary.window_s, summary.max_gpus) == (3, 2, 60, 16)
    assert summary.offered_gpu_hours == pytest.approx((60 + 8 * 3600 + 16 * 10) / 3600)


def test_bad_philly_rows_are_all_reported_with_line_numbers():
    text = PHILLY + "philly-4,abc,10,1,1,,u003,completed\nphilly-5,1,2\nphilly-1,5,5,1,1,,u1,x\n" \
                    "philly-6,5,5,0,1,,u1,x\nphilly-7,5,-3,1,1,,u1,x\n"
    with pytest.raises(TraceError) as caught:
        parse_trace(text.splitlines(keepends=True), source="jobs.csv")
    assert [n for n, _ in caught.value.problems] == [5, 6, 7, 8, 9]
    message = caught.value.detail
    assert message.startswith("jobs.csv: 5 bad row(s): line 5: submit_time_s 'abc' is not a whole")
    assert "line 6: 3 fields, the header has 8" in message
    assert "line 7: job_id philly-1 appears twice" in message
    assert "line 8: num_gpus 0 is below 1" in message
    assert "line 9: duration_s -3 is below 0" in message


def test_unknown_format_and_empty_trace_are_refused():
    with pytest.raises(ValidationFailed, match="neither the Philly CSV header"):
        parse_trace(["id;submit;gpus\n", "1;2;3\n"])
    with pytest.raises(ValidationFailed, match="empty"):
        parse_trace([])
    with pytest.raises(ValidationFailed, match="lacks column"):
        parse_trace(["job_id,user\n", "a,b\n"])


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path):
    path = tmp_path / "trace.csv"  # no .gz suffix on purpose
    path.write_bytes(gzip.compress(PHILLY.encode()))
    jobs, _ = load_trace(path)
    assert [j.id for j in jobs] == ["philly-1", "philly-2", "philly-3"]


def test_unreadable_and_missing_files_give_one_clear_error(tmp_path: Path):
    with pytest.raises(ValidationFailed, match="no such trace file"):
        load_trace(tmp_path / "missing.csv")
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(PHILLY.encode())[:40])
    with pytest.raises(ValidationFailed, match="cannot be read as a trace"):
        load_trace(broken)


def test_sacct_export_with_header():
    jobs, summary = parse_trace([SACCT_HEADER + "\n", *(r + "\n" for r in SACCT_ROWS)])
    # bob's job is first (submitted 30 s before alice's); carol's never started and dave's
    # has no GPUs: both skipped, counted.
    assert jobs == [TraceJob("100", "bob", 0, 30, 8, 2, "cancelled"),
                    TraceJob("101", "alice", 30, 3600, 4, 1, "completed")]
    assert summary.skipped == 2


def test_sacct_export_without_header_uses_the_documented_column_order():
    steps = "101.batch|alice|2024-05-01T10:00:30|2024-05-01T10:01:00|x|3600|1|gres/gpu=4|COMPLETED"
    jobs, summary = parse_trace([r + "\n" for r in [*SACCT_ROWS, steps]])
    assert [j.id for j in jobs] == ["100", "101"]
    assert summary.skipped == 3


def test_bad_sacct_rows_are_reported_with_line_numbers():
    rows = [SACCT_HEADER, SACCT_ROWS[0],
            "104|eve|yesterday|2024-05-01T10:00:00|x|10|1|gres/gpu=1|COMPLETED",
            "105|eve|2024-05-01T10:00:00"]
    with pytest.raises(TraceError) as caught:
        parse_trace([r + "\n" for r in rows])
    assert [n for n, _ in caught.value.problems] == [3, 4]
    assert "Submit 'yesterday' is not a time" in caught.value.detail


def test_tres_gpus_prefers_the_total_and_sums_typed_entries():
    assert tres_gpus("cpu=8,gres/gpu=4,gres/gpu:h100=4,mem=1G") == 4
    assert tres_gpus("cpu=8,gres/gpu:a100=2,gres/gpu:h100=4") == 6
    assert tres_gpus("cpu=8,mem=1G") == 0


def test_the_bundled_philly_trace_loads_whole():
    jobs, summary = load_trace(bundled_trace())
    assert (summary.jobs, summary.users, summary.max_gpus) == (15_000, 136, 48)
    assert summary.window_s == 4_977_039
    assert round(summary.offered_gpu_hours) == 765_764
    assert jobs[0].submit_s == 0
    assert all(a.submit_s <= b.submit_s for a, b in itertools.pairwise(jobs))


def test_replicate_shifts_copies_after_the_window_and_renames_users():
    jobs, _ = parse_trace(PHILLY.splitlines(keepends=True))
    copies = replicate(jobs, 3)
    assert len(copies) == 9
    assert [j.submit_s for j in copies] == [0, 0, 60, 61, 61, 121, 122, 122, 182]
    assert copies[3] == TraceJob("philly-1~1", "u001~1", 61, 60, 1, 1, "completed")
    with pytest.raises(ValidationFailed):
        replicate(jobs, 0)


def test_window_from_a_quantile():
    jobs, _ = parse_trace(PHILLY.splitlines(keepends=True))
    assert window(jobs).start_s == 0 and window(jobs).end_s == 60
    late = window(jobs, 0.99)  # the job at index int(0.99 × 2) = 1
    assert (late.start_s, late.offered_gpu_hours) == (0, pytest.approx(
        (60 + 8 * 3600 + 160) / 3600))
    with pytest.raises(ValidationFailed):
        window(jobs, 1.0)
