"""Admission checks: a pluggable list of pure functions run when a proposal is submitted.

Modelled on Kueue's AdmissionChecks: each check sees the same context and says pass or fail
with the rule it applied and why. Capacity (federation) and the AI Act gate (compliance) plug in
by adding a check to the list handed to the access service; the lifecycle code never changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fabriek.access.enums import EthicsCommitment
from fabriek.access.policy import Classification, Eligibility
from fabriek.access.policy_files import AccessMode


@dataclass(frozen=True)
class ProposalFacts:
    mode: str
    gpu_hours: int
    duration_months: int
    start_on: date
    storage_tb: float
    inference_share: float
    civilian_use: bool
    ethics_commitment: EthicsCommitment | None
    ethics_signed_by: str | None


@dataclass(frozen=True)
class CheckContext:
    proposal: ProposalFacts
    mode: AccessMode
    eligibility: Eligibility
    classification: Classification
    organisation_vouched: bool
    today: date
    extra: Mapping[str, Any] = field(default_factory=dict)  # data later checks need


@dataclass(frozen=True)
class CheckResult:
    check: str
    passed: bool
    rule: str
    message: str


AdmissionCheck = Callable[[CheckContext], CheckResult]


def _result(name: str, ok: bool, rule: str, ok_msg: str, fail_msg: str) -> CheckResult:
    return CheckResult(name, ok, rule, ok_msg if ok else fail_msg)


def check_eligibility(ctx: CheckContext) -> CheckResult:
    return _result("eligibility", ctx.eligibility.eligible,
                   "eligibility: country of establishment", ctx.eligibility.reason,
                   ctx.eligibility.reason)


def check_organisation_vouched(ctx: CheckContext) -> CheckResult:
    return _result("organisation-vouched", ctx.organisation_vouched,
                   "organisation facts vouched by an organisation admin",
                   "an organisation admin vouched for the organisation's facts",
                   "an organisation admin must vouch for the organisation's facts "
                   "(country, type, size) before it can apply")


def check_applicant_category(ctx: CheckContext) -> CheckResult:
    allowed = set(ctx.mode.who_may_apply)
    held = ctx.classification.categories
    ok = bool(allowed & held)
    return _result(
        "applicant-category", ok, f"access mode {ctx.mode.id}: who may apply",
        f"{', '.join(sorted(held & allowed))} may apply to {ctx.mode.label}",
        f"{ctx.mode.label} is open to {', '.join(a.value for a in ctx.mode.who_may_apply)}; "
        f"this organisation is {', '.join(sorted(held))} ({'; '.join(ctx.classification.reasons)})",
    )


def check_ethics_commitment(ctx: CheckContext) -> CheckResult:
    p = ctx.proposal
    ok = p.ethics_commitment is not None and bool(p.ethics_signed_by)
    return _result(
        "ethics-commitment", ok, "access only for ethical and responsible AI",
        f"commitment: {p.ethics_commitment.value if p.ethics_commitment else ''}, signed by "
        f"{p.ethics_signed_by}",
        "the proposal needs a signed ethics commitment: AI Pact endorsement or the platform's "
        "declaration",
    )


def check_civilian_use(ctx: CheckContext) -> CheckResult:
    return _result("civilian-use", ctx.proposal.civilian_use,
                   "AI Factories access is for civilian use only",
                   "the intended use is civilian",
                   "AI Factories compute may only be used for civilian purposes")


def check_gpu_hours(ctx: CheckContext) -> CheckResult:
    m, hours = ctx.mode, ctx.proposal.gpu_hours
    ok = hours >= m.gpu_hours_min and (m.gpu_hours_max is None or hours <= m.gpu_hours_max)
    bounds = (f"{m.gpu_hours_min:,} to {m.gpu_hours_max:,}" if m.gpu_hours_max
              else f"at least {m.gpu_hours_min:,}")
    return _result("gpu-hours", ok, f"access mode {m.id}: GPU-hour range",
                   f"{hours:,} GPU-hours is within {bounds}",
                   f"{m.label} takes requests of {bounds} GPU-hours; {hours:,} were requested")


def check_duration(ctx: CheckContext) -> CheckResult:
    m, months = ctx.mode, ctx.proposal.duration_months
    allowed = ", ".join(str(d) for d in m.durations_months)
    return _result("duration", months in m.durations_months, f"access mode {m.id}: durations",
                   f"{months} months is offered", f"{m.label} offers {allowed} months; "
                   f"{months} were requested")


def check_storage(ctx: CheckContext) -> CheckResult:
    m, tb = ctx.mode, ctx.proposal.storage_tb
    if m.storage_tb_max is None:
        return CheckResult("storage", True, f"access mode {m.id}: storage cap",
                           f"{m.label} has no storage cap")
    return _result("storage", tb <= m.storage_tb_max, f"access mode {m.id}: storage cap",
                   f"{tb:g} TB of storage is within the cap",
                   f"{m.label} offers at most {m.storage_tb_max:g} TB of storage; {tb:g} requested")


def check_inference_share(ctx: CheckContext) -> CheckResult:
    m, share = ctx.mode, ctx.proposal.inference_share
    ok = m.inference_share_max is None or share <= m.inference_share_max
    cap = f"{(m.inference_share_max or 0):.0%}"
    return _result("inference-share", ok, f"access mode {m.id}: inference cap",
                   f"inference share {share:.0%} is allowed",
                   f"{m.label} allows inference for at most {cap} of the allocation; "
                   f"{share:.0%} was requested")


def check_start_date(ctx: CheckContext) -> CheckResult:
    ok = ctx.proposal.start_on >= ctx.today
    return _result("start-date", ok, "an allocation cannot start in the past",
                   f"starts on {ctx.proposal.start_on.isoformat()}",
                   f"the requested start {ctx.proposal.start_on.isoformat()} is in the past")


DEFAULT_CHECKS: tuple[AdmissionCheck, ...] = (
    check_eligibility,
    check_organisation_vouched,
    check_applicant_category,
    check_ethics_commitment,
    check_civilian_use,
    check_gpu_hours,
    check_duration,
    check_storage,
    check_inference_share,
    check_start_date,
)


def run_checks(ctx: CheckContext, checks: Sequence[AdmissionCheck]) -> list[CheckResult]:
    return [check(ctx) for check in checks]
