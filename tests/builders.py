"""Request bodies with explicit, realistic defaults; override what a test is about."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any


def startup_org(**over: Any) -> dict[str, Any]:
    founded = date.today() - timedelta(days=2 * 365)
    body = {"legal_name": "Lumen Vision B.V.", "country": "NL", "registration_id": "KVK-81234567",
            "kind": "enterprise", "founded_on": founded.isoformat(), "headcount": 12,
            "turnover_eur": "1200000", "balance_sheet_eur": "800000"}
    return {**body, **over}


def proposal(organisation_id: int, mode: str = "playground", **over: Any) -> dict[str, Any]:
    body = {
        "organisation_id": organisation_id, "mode": mode,
        "title": "Fine-tuning a Dutch vision-language model for quality inspection",
        "abstract": "We adapt an open 7B vision-language model to detect defects on production "
                    "lines of Dutch SMEs.",
        "sector": "manufacturing", "gpu_hours": 2000, "gpu_model": "H100", "gpu_memory_gb": 80,
        "duration_months": 2, "start_on": date.today().isoformat(),
        "intended_system": "A defect-detection assistant for human inspectors",
        "civilian_use": True, "ethics_commitment": "platform-declaration",
        "ethics_signed_by": "Anna de Vries, CEO",
    }
    return {**body, **over}


# A minimal AI Act self-assessment (a provider's minimal-risk system) that every proposal in
# the tests carries unless a test is about the AI Act gate (fabriek.compliance.gate).
MINIMAL_RISK_ANSWERS: dict[str, Any] = {
    "kind": "system", "definition": "yes", "role": "provider", "scope": "placed-in-eu",
    "exclusions": "none", "prohibited": ["none"], "annex_i": "no", "annex_iii": "none",
    "transparency": ["none"], "open_source": "no"}


def assessment(organisation_id: int, answers: dict[str, Any] | None = None,
               lang: str = "en") -> dict[str, Any]:
    return {"organisation_id": organisation_id, "lang": lang,
            "answers": MINIMAL_RISK_ANSWERS if answers is None else answers}
