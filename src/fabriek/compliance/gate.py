"""The AI Act gate: every proposal carries a self-assessment, and a prohibited practice is
refused at admission with the article and point that forbid it.

`ai_act_context` is an access context provider (it reads the proposal's self-assessment into
`CheckContext.extra`); `check_ai_act` is a pure admission check over it. `with_ai_act` adds both
to an AccessConfig; the API (and so `fabriek serve` and the demo) is built with it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from fabriek.access.checks import CheckContext, CheckResult
from fabriek.access.enums import ProcedureKind
from fabriek.access.models import Proposal
from fabriek.access.service import AccessConfig
from fabriek.compliance.models import ActAssessment, ProposalAssessment
from fabriek.compliance.service import attached_here

KEY = "ai_act"
NAME = "ai-act"
RULE = "AI Act self-assessment (Regulation (EU) 2024/1689; Article 5 prohibited practices)"
SANDBOX = ("national AI regulatory sandboxes (Article 57) offer supervised development and "
           "testing, with priority access for SMEs and start-ups")


def ai_act_context(session: Session, proposal: Proposal) -> dict[str, Any]:
    """{"ai_act": summary of the attached self-assessment, or None when there is none}."""
    row = attached_here(session, proposal.id) or session.execute(
        _ATTACHED_TO, {"proposal_id": proposal.id}).first()
    if row is None:
        return {KEY: None}
    outcome = row.outcome
    return {KEY: {
        "assessment_id": row.id,
        "categories": [c["id"] for c in outcome["categories"]],
        "notable": [c["label"] for c in outcome["categories"] if c["notable"]],
        "prohibited": outcome["prohibited_practices"],
        "obligations": [(o["cites"], o["applies_from"]) for o in outcome["obligations"]],
    }}


_ATTACHED_TO = (select(ActAssessment.id, ActAssessment.outcome)
                .join(ProposalAssessment, ProposalAssessment.assessment_id == ActAssessment.id)
                .where(ProposalAssessment.proposal_id == bindparam("proposal_id")))


def check_ai_act(ctx: CheckContext) -> CheckResult:
    summary = ctx.extra.get(KEY)
    if summary is None:
        if ctx.mode.procedure.kind is ProcedureKind.direct:
            # Allocated by an access officer in one step: there is no draft to attach to, and
            # the officer answers for the allocation.
            return CheckResult(NAME, True, RULE, "direct allocation by an access officer; no "
                               "self-assessment attached")
        return CheckResult(NAME, False, RULE,
                           "the proposal carries no AI Act self-assessment; run `fabriek act "
                           "assess` and attach it (PUT /api/v1/proposals/{id}/self-assessment)")
    ref = f"self-assessment {summary['assessment_id']}"
    if summary["prohibited"]:
        practices = "; ".join(f"{p['citation']}: {p['text']}"
                              for p in summary["prohibited"])
        return CheckResult(NAME, False, RULE,
                           f"{ref} discloses a prohibited AI practice, which no AI Factory may "
                           f"support: {practices}")
    if summary["notable"]:
        articles = sorted({c for cites, _ in summary["obligations"] for c in cites},
                          key=_article_order)
        starts = sorted({d for _, d in summary["obligations"]})
        return CheckResult(NAME, True, RULE,
                           f"{ref}: {', '.join(summary['notable'])}. Reviewers: the obligations "
                           f"of {', '.join(articles)} apply (from {', '.join(starts)}); "
                           f"{SANDBOX}")
    return CheckResult(NAME, True, RULE,
                       f"{ref}: {', '.join(summary['categories']) or 'no category'}")


def _article_order(citation: str) -> tuple[int, str]:
    head = citation.split()
    number = "".join(ch for ch in head[1] if ch.isdigit()) if len(head) > 1 else ""
    return (int(number) if number and head[0] == "Article" else 10_000, citation)


def with_ai_act(config: AccessConfig) -> AccessConfig:
    """`config` with the AI Act context provider and admission check added (once)."""
    if check_ai_act in config.checks:
        return config
    return dataclasses.replace(config, checks=(*config.checks, check_ai_act),
                               context_providers=(*config.context_providers, ai_act_context))
