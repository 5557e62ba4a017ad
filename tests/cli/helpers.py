"""Command lines built from tests/builders.py bodies, and reading the CLI's error lines."""

from __future__ import annotations

from typing import Any

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


def error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error:")]
