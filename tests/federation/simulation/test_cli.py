"""`fabriek simulate` end to end on a small trace: tables, --json, and a bad trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fabriek.cli.main import app

pytestmark = pytest.mark.unit


def _trace(tmp_path: Path, rows: int = 60) -> Path:
    lines = ["job_id,submit_time_s,duration_s,num_gpus,num_nodes,num_cpus,user,status"]
    for i in range(rows):
        gpus = (1, 1, 2, 4, 8, 16)[i % 6]
        lines.append(f"j{i},{i * 120},{600 + 97 * (i % 11)},{gpus},{max(1, gpus // 8)},,"
                     f"u{i % 9},completed")
    path = tmp_path / "small.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_simulate_prints_tables(tmp_path: Path):
    result = CliRunner().invoke(app, ["simulate", "--trace", str(_trace(tmp_path)),
                                      "--gpus", "64", "--factories", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Policy versus baseline" in result.output
    assert "offered GPU-hours placed" in result.output
    assert "Queue wait by priority class" in result.output


def test_simulate_json_parses_and_holds_both_runs(tmp_path: Path):
    result = CliRunner().invoke(app, ["simulate", "--trace", str(_trace(tmp_path)), "--load",
                                      "0.7", "--factories", "2", "--replicate", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["jobs"] == 120
    assert report["gpus"] == sum(p["gpus"] for p in report["partitions"])
    assert [p["factory_id"] for p in report["partitions"]] == ["factory-01", "factory-02"]
    for strategy in ("policy", "baseline"):
        run = report[strategy]
        assert run["strategy"] == strategy
        assert 0 <= run["placed_share"] <= 1
        assert run["decisions"] == 120
        assert {w["group"] for w in run["by_class"]} <= {"priority", "standard"}


def test_simulate_rejects_a_bad_trace_with_line_numbers(tmp_path: Path):
    path = _trace(tmp_path, rows=3)
    path.write_text(path.read_text() + "bad,x,1,1,1,,u1,completed\n")
    result = CliRunner().invoke(app, ["simulate", "--trace", str(path), "--gpus", "64"])
    assert result.exit_code == 1
    assert "line 5: submit_time_s 'x' is not a whole number" in result.output


def test_simulate_refuses_a_federation_too_small_for_the_largest_job(tmp_path: Path):
    result = CliRunner().invoke(app, ["simulate", "--trace", str(_trace(tmp_path)),
                                      "--gpus", "16", "--factories", "2"])
    assert result.exit_code == 1
    assert "must hold the largest job (16 GPUs" in result.output
