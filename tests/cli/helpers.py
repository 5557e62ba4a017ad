"""Command lines built from tests/builders.py bodies, and reading the CLI's error lines."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from typer.testing import Result

from tests import builders


def org_options(**over: Any) -> list[str]:
    """`fabriek org register` options for builders.startup_org(**over)."""
    body = builders.startup_org(**over)
    return ["--legal-name", body["legal_name"], "--country", body["country"],
            "--registration-id", body["registration_id"], "--kind", body["kind"],
            "--founded-on", body["founded_on"], "--headcount", str(body["headcount"]),
            "--turnover-eur", body["turnover_eur"],
            "--balance-sheet-eur", body["balance_sheet_eur"]]


def proposal_options(organisation_id: int, mode: str = "playground", **over: Any) -> list[str]:
    """`fabriek proposal create` options for builders.proposal(...)."""
    p = builders.proposal(organisation_id, mode, **over)
    return ["--org", str(p["organisation_id"]), "--mode", p["mode"], "--title", p["title"],
            "--abstract", p["abstract"], "--sector", p["sector"],
            "--gpu-hours", str(p["gpu_hours"]), "--gpu-model", p["gpu_model"],
            "--gpu-memory-gb", str(p["gpu_memory_gb"]),
            "--duration-months", str(p["duration_months"]), "--start-on", p["start_on"],
            "--intended-system", p["intended_system"],
            "--civilian" if p["civilian_use"] else "--not-civilian",
            "--ethics", p["ethics_commitment"], "--signed-by", p["ethics_signed_by"]]


def self_assessment(cli: Any, organisation_id: int, token: str) -> list[str]:
    """`--self-assessment ID` options for a minimal-risk AI Act self-assessment made with
    `fabriek act assess --answers` (every proposal needs one to pass admission)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "answers.yaml"
        path.write_text(yaml.safe_dump(builders.MINIMAL_RISK_ANSWERS), encoding="utf-8")
        made = cli.json("act", "assess", "--org", str(organisation_id), "--answers", str(path),
                        token=token)
    return ["--self-assessment", str(made["id"])]


def error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error:")]
