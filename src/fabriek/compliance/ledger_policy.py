"""The compute ledger's arithmetic: training FLOP from GPU-hours, and the AI Act thresholds.

Pure functions. Training compute = GPU-hours × 3600 s × the GPU's peak dense BF16 FLOP/s ×
utilisation (model FLOP utilisation; 40 % unless the model's owner measured it), or the FLOP
the owner reports. The thresholds: 10^23 FLOP, the Commission's indicative criterion for a
general-purpose AI model, and 10^25 FLOP, the presumption of high-impact capabilities and so of
systemic risk (Article 51(2)), after which the provider notifies the Commission within two
weeks (Article 52(1)).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_UTILISATION = 0.40
SECONDS_PER_HOUR = 3600.0


class Basis(StrEnum):
    estimate = "estimate"                          # default utilisation
    measured_utilisation = "measured-utilisation"  # the owner's measured utilisation
    reported = "reported"                          # the owner's own FLOP figure


@dataclass(frozen=True)
class Threshold:
    exponent: int
    rule: str
    meaning: str

    @property
    def flop(self) -> float:
        return float(f"1e{self.exponent}")  # 10.0 ** 23 is 1.0000000000000001e23


THRESHOLDS: tuple[Threshold, ...] = (
    # Not in the Act: the Commission's guidelines on general-purpose AI models (2025) use it
    # as the indicative criterion; the Act itself speaks of generality (Recital 98).
    Threshold(23, "indicative criterion for a general-purpose AI model (Commission guidelines)",
              "indicative threshold of a general-purpose AI model: the obligations of "
              "Article 53 may apply"),
    Threshold(25, "Article 51(2); Article 52(1)",
              "presumption of systemic risk (Article 51(2)): the provider must notify the "
              "Commission within two weeks (Article 52(1))"),
)


@dataclass(frozen=True)
class JobCompute:
    """What one job contributes: GPU-hours on a GPU of known (or unknown) peak FLOP/s."""

    gpu_hours: float
    peak_flops: float | None


@dataclass(frozen=True)
class LedgerFigures:
    flop: float
    basis: Basis
    utilisation: float | None
    gpu_hours: float
    gpu_hours_unpriced: float  # on GPUs whose peak is not known: not counted in `flop`


def check_utilisation(value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"a utilisation is a fraction in (0, 1]; got {value}")


def job_flop(gpu_hours: float, peak_flops: float, utilisation: float) -> float:
    return gpu_hours * SECONDS_PER_HOUR * peak_flops * utilisation


def effective_utilisation(basis: Basis, measured: float | None) -> float:
    """The utilisation that turns GPU-hours into FLOP (for `reported`, the projection's)."""
    return measured if measured is not None and basis is not Basis.estimate \
        else DEFAULT_UTILISATION


def ledger(jobs: Iterable[JobCompute], *, basis: Basis = Basis.estimate,
           utilisation: float | None = None, reported_flop: float | None = None
           ) -> LedgerFigures:
    """The model's training compute so far on the stated basis."""
    jobs = list(jobs)
    gpu_hours = sum(j.gpu_hours for j in jobs)
    unpriced = sum(j.gpu_hours for j in jobs if j.peak_flops is None)
    if basis is Basis.reported:
        if reported_flop is None or reported_flop < 0:
            raise ValueError("a reported basis needs the reported FLOP (>= 0)")
        return LedgerFigures(reported_flop, basis, None, gpu_hours, unpriced)
    util = effective_utilisation(basis, utilisation)
    check_utilisation(util)
    flop = sum(job_flop(j.gpu_hours, j.peak_flops, util) for j in jobs if j.peak_flops)
    return LedgerFigures(flop, basis, util, gpu_hours, unpriced)


def crossed(before: float, after: float) -> list[Threshold]:
    """Thresholds passed going from `before` to `after` FLOP (reaching one counts)."""
    return [t for t in THRESHOLDS if before < t.flop <= after]


def reached(flop: float) -> list[Threshold]:
    return [t for t in THRESHOLDS if flop >= t.flop]


def projected(current_flop: float, worst_case_flop: float) -> list[Threshold]:
    """Thresholds a job's worst case would carry the model over, if it ran to its limit."""
    return crossed(current_flop, current_flop + worst_case_flop)


def crossing_message(model: str, t: Threshold, flop: float, basis: Basis) -> str:
    return (f"model {model!r} has used {flop:.3g} FLOP of training compute on this platform "
            f"({basis.value}), reaching 10^{t.exponent}: {t.meaning}")


def projection_message(model: str, t: Threshold, current: float, worst: float) -> str:
    return (f"if this job runs to its time limit, model {model!r} would reach "
            f"{current + worst:.3g} FLOP of training compute (now {current:.3g}), over "
            f"10^{t.exponent}: {t.meaning}")
