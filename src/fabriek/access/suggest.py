"""Which access mode suits a request: pure, and made of the admission checks themselves.

The portal's proposal wizard suggests a mode before anything is submitted. It runs the checks
that depend on the mode (who may apply, GPU-hour range, duration, storage, inference share) —
the same functions submission runs — against every mode an applicant may apply for, and
suggests the smallest one that passes them all, so the explanation shown is the one the
admission checks would give. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fabriek.access.checks import (
    CheckContext,
    CheckResult,
    ProposalFacts,
    check_applicant_category,
    check_duration,
    check_gpu_hours,
    check_inference_share,
    check_storage,
)
from fabriek.access.policy import Classification, Eligibility
from fabriek.access.policy_files import AccessMode, AccessModesPolicy


@dataclass(frozen=True)
class RequestFacts:
    """What the applicant has said so far; a missing figure is not checked yet."""

    gpu_hours: int | None
    duration_months: int | None = None
    storage_tb: float = 0.0
    inference_share: float = 0.0


@dataclass(frozen=True)
class ModeFit:
    mode: AccessMode
    results: tuple[CheckResult, ...]

    @property
    def fits(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(r.message for r in self.results if not r.passed)


@dataclass(frozen=True)
class Suggestion:
    modes: tuple[AccessMode, ...]  # every mode an applicant may apply for, in the policy's order
    fits: tuple[ModeFit, ...]  # how each of them fits; empty until GPU-hours are given
    suggested: AccessMode | None
    why: str

    def fit(self, mode_id: str) -> ModeFit | None:
        return next((f for f in self.fits if f.mode.id == mode_id), None)


def _size(mode: AccessMode) -> float:
    return float("inf") if mode.gpu_hours_max is None else mode.gpu_hours_max


def _fit(mode: AccessMode, request: RequestFacts, eligibility: Eligibility,
         classification: Classification, today: date) -> ModeFit:
    assert request.gpu_hours is not None
    ctx = CheckContext(
        proposal=ProposalFacts(
            mode=mode.id, gpu_hours=request.gpu_hours,
            duration_months=request.duration_months or mode.durations_months[0],
            start_on=today, storage_tb=request.storage_tb,
            inference_share=request.inference_share, civilian_use=True,
            ethics_commitment=None, ethics_signed_by=None),
        mode=mode, eligibility=eligibility, classification=classification,
        organisation_vouched=True, today=today)
    checks = [check_applicant_category, check_gpu_hours, check_storage, check_inference_share]
    if request.duration_months is not None:
        checks.append(check_duration)
    return ModeFit(mode, tuple(check(ctx) for check in checks))


def suggest_mode(request: RequestFacts, modes: AccessModesPolicy, eligibility: Eligibility,
                 classification: Classification, today: date) -> Suggestion:
    """The modes an applicant may apply for, each with what fits and what does not, and the
    suggestion: the smallest mode (lowest GPU-hour cap, so the quickest decision) that fits."""
    open_modes = tuple(m for m in modes.modes if m.initiated_by == "applicant")
    if request.gpu_hours is None:
        return Suggestion(open_modes, (), None,
                          "give the GPU-hours you need to see which modes fit")
    fits = tuple(_fit(m, request, eligibility, classification, today) for m in open_modes)
    fitting = sorted((f for f in fits if f.fits), key=lambda f: _size(f.mode))
    if not fitting:
        return Suggestion(open_modes, fits, None, "no access mode fits this request for this "
                          "organisation; the reasons are given for each mode")
    best = fitting[0].mode
    others = [f.mode.label for f in fitting[1:]]
    why = (f"{best.label} is the smallest mode whose limits fit this request and that this "
           "organisation may apply for")
    if others:
        why += f"; {', '.join(others)} would fit too but {'is' if len(others) == 1 else 'are'} " \
               "meant for larger requests"
    return Suggestion(open_modes, fits, best, why)
