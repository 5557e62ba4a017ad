"""`fabriek demo` for real: its own server process, HTTP on loopback, a fresh database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIEK_")}
    env["COLUMNS"] = "120"
    return env


def test_demo_ends_with_an_accepted_proposal_and_an_allocation():
    done = subprocess.run([sys.executable, "-m", "fabriek", "demo"], capture_output=True,
                          text=True, timeout=180, env=_env())

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Proposal accepted" in done.stdout
    assert re.search(r"Categories\s+sme, startup", done.stdout)
    assert re.search(r"Priority class\s+entry", done.stdout)
    assert "Hello from the first Fabriek job" in done.stdout
    assert re.search(r"application to first job running: \d+\.\d s", done.stdout)
    assert "AI Act: Transparency obligations (Article 50)" in done.stdout
    assert re.search(r"20 factories ranked; first: local \(score [\d.]+\); 19 excluded",
                     done.stdout)
    assert "ai-factories (EUPL-1.2, 2 files); eu-ai-act (EU-COM-REUSE, 4 files); " \
        "philly-gpu-trace (CC-BY-4.0, 2 files)" in done.stdout.replace("\n   ", " ")
    assert "14. Stop the server" in done.stdout


def test_demo_json_summary():
    done = subprocess.run([sys.executable, "-m", "fabriek", "demo", "--json"],
                          capture_output=True, text=True, timeout=180, env=_env())

    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert (summary["ok"], summary["proposal"]["state"], summary["kept"]) == (
        True, "accepted", False)
    assert summary["allocation"]["gpu_hours"] == 2000
    assert summary["organisation"]["classification"]["categories"] == ["sme", "startup"]
    assert summary["job"]["state"] == "completed" and summary["job"]["exit_code"] == 0
    assert 0 < summary["application_to_first_job_running_seconds"] < 60
    assert all(step["ok"] for step in summary["steps"])
    assert not os.path.exists(summary["data_dir"])
