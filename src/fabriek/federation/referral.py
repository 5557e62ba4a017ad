"""Pure referral: rank the AI Factories for a proposal and explain every term of each score.

Terms (weights from policy/referral.yaml): free capacity in the requested window, sector focus,
data lab co-location, hardware fit, the antenna linking the applicant's country, the
applicant's languages. A factory that cannot keep the promise at all (no GPU that fits, no room
in the window, not in operation, not connected when only connected ones may be chosen) is listed
as excluded with its reasons rather than scored low. Each term's points are rounded first and
the score is their sum, so the explanation adds up exactly to what is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from fabriek.federation import capacity
from fabriek.federation.catalogue import gpu_spec
from fabriek.federation.domain import (
    ExecutorKind,
    FactoryProfile,
    Federation,
    GpuSpec,
    MaintenanceWindow,
    PartitionProfile,
    SiteKind,
)
from fabriek.federation.referral_policy import ReferralPolicy


@dataclass(frozen=True)
class ReferralRequest:
    gpu_hours: float
    start_on: date
    end_on: date  # inclusive
    country: str  # of the applicant organisation's establishment
    sector: str | None = None  # a sector id of policy/sectors.yaml
    gpu_model: str | None = None  # a model or family the work needs, e.g. "H100"
    gpu_memory_gb: int | None = None  # per GPU
    datasets: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()  # ISO 639-1


@dataclass(frozen=True)
class Term:
    name: str
    weight: float
    value: float  # 0..1
    points: float  # weight × value, rounded to 3 decimals
    explanation: str


@dataclass(frozen=True)
class Ranking:
    factory_id: str
    factory_name: str
    partition_id: str | None  # the partition the allocation would go to
    eligible: bool
    score: float  # the sum of the terms' points
    terms: tuple[Term, ...]
    excluded: tuple[str, ...] = ()  # why the factory cannot be chosen
    capacity: capacity.Fit | None = None


def hardware_problem(request: ReferralRequest, partition: PartitionProfile) -> str | None:
    if request.gpu_model and request.gpu_model.upper() not in partition.gpu_model.upper():
        return f"{partition.id} has {partition.gpu_model}, not the {request.gpu_model} asked for"
    if request.gpu_memory_gb and request.gpu_memory_gb > partition.gpu_memory_gb:
        return (f"{partition.id}'s GPUs have {partition.gpu_memory_gb} GB; "
                f"{request.gpu_memory_gb} GB per GPU are needed")
    return None


def _term(name: str, weight: float, value: float, explanation: str) -> Term:
    value = round(min(max(value, 0.0), 1.0), 4)
    return Term(name, weight, value, round(weight * value, 3), explanation)


def _hardware_term(request: ReferralRequest, partition: PartitionProfile, specs: Sequence[GpuSpec],
                   fastest: float, weight: float) -> Term:
    spec = gpu_spec(specs, partition.gpu_model)
    memory = f"{partition.gpu_memory_gb} GB"
    if request.gpu_model:
        return _term("hardware", weight, 1.0,
                     f"{partition.gpu_model} ({memory}) is the GPU asked for")
    if spec is None or fastest <= 0:
        return _term("hardware", weight, 0.5,
                     f"{partition.gpu_model} ({memory}): no specification on file, half marks")
    return _term("hardware", weight, spec.bf16_dense_tflops / fastest,
                 f"{partition.gpu_model} ({memory}) peaks at {spec.bf16_dense_tflops:,.0f} "
                 f"TFLOP/s dense BF16, the fastest on offer {fastest:,.0f}")


def _capacity_term(fit: capacity.Fit, full_at: float, weight: float) -> Term:
    headroom = fit.headroom
    tight = fit.tightest
    if tight is None or headroom == float("inf"):
        return _term("capacity", weight, 1.0, "the request takes no GPU-hours")
    return _term("capacity", weight, headroom / full_at, (
        f"tightest week {tight.week}: {tight.free:,.0f} GPU-hours free for {tight.requested:,.0f}"
        f" needed ({headroom:.1f}×; full marks at {full_at:g}×)"))


def _factory_terms(request: ReferralRequest, factory: FactoryProfile,
                   antennas: Mapping[str, FactoryProfile], policy: ReferralPolicy) -> list[Term]:
    """`antennas`: the antennas in the applicant's country, by the factory each links to."""
    w = policy.weights
    if request.sector is None:
        sector = _term("sector", w.sector, 0.0, "the proposal names no sector")
    elif request.sector in factory.sectors:
        sector = _term("sector", w.sector, 1.0,
                       f"{request.sector} is one of its focus sectors")
    else:
        focus = ", ".join(sorted(factory.sectors)) or "none recorded"
        sector = _term("sector", w.sector, 0.0,
                       f"{request.sector} is not among its focus sectors ({focus})")
    if not request.datasets:
        data = _term("data", w.data, 0.0, "no datasets requested")
    else:
        held = sorted(request.datasets & factory.datasets)
        data = _term("data", w.data, len(held) / len(request.datasets),
                     f"its data lab holds {len(held)} of the {len(request.datasets)} datasets "
                     f"requested" + (f" ({', '.join(held)})" if held else ""))
    if factory.country == request.country:
        antenna = _term("antenna", w.antenna, 1.0,
                        f"hosted in the applicant's country ({request.country})")
    elif factory.id in antennas:
        antenna = _term("antenna", w.antenna, 1.0,
                        f"{antennas[factory.id].name} links {request.country} to this factory")
    else:
        antenna = _term("antenna", w.antenna, 0.0,
                        f"no antenna links {request.country} to this factory")
    if not request.languages:
        language = _term("language", w.language, 0.0, "the applicant named no languages")
    else:
        spoken = sorted(request.languages & factory.languages)
        language = _term("language", w.language, len(spoken) / len(request.languages),
                         f"supports {len(spoken)} of the applicant's {len(request.languages)} "
                         f"languages" + (f" ({', '.join(spoken)})" if spoken else ""))
    return [sector, data, antenna, language]


Committed = Mapping[tuple[str, str], Mapping[date, float]]  # partition → week → GPU-hours


def refer(request: ReferralRequest, federation: Federation, committed: Committed,
          policy: ReferralPolicy, *, maintenance: Sequence[MaintenanceWindow] | None = None,
          connected_only: bool = False) -> list[Ranking]:
    """Every AI Factory (and the embedded local one), best first; excluded ones last.

    `committed`: what allocations already hold per partition and week (the capacity ledger).
    """
    windows = federation.maintenance if maintenance is None else maintenance
    specs = federation.gpu_specs
    fastest = max((s.bf16_dense_tflops for p in federation.partitions()
                   if (s := gpu_spec(specs, p.gpu_model))), default=0.0)
    w = policy.weights
    antennas: dict[str, FactoryProfile] = {}
    for a in federation.factories:  # the first antenna of the country that links a factory
        if a.kind is SiteKind.antenna and a.country == request.country and a.linked_factory:
            antennas.setdefault(a.linked_factory, a)
    rankings: list[Ranking] = []
    for factory in federation.factories:
        if factory.kind is SiteKind.antenna:
            continue  # antennas give access through their linked factory; they hold no GPUs
        factory_terms = _factory_terms(request, factory, antennas, policy)
        excluded: list[str] = []
        if not factory.operational:
            excluded.append("not in operation yet")
        if not factory.partitions:
            excluded.append("no partitions on record")
        best: tuple[float, PartitionProfile, Term, Term, capacity.Fit] | None = None
        for partition in factory.partitions:
            if connected_only and partition.executor is ExecutorKind.none:
                excluded.append(f"{partition.id} is not connected to this installation's "
                                "schedulers")
                continue
            problem = hardware_problem(request, partition)
            if problem:
                excluded.append(problem)
                continue
            fit = capacity.fit(partition, committed.get(partition.key, {}), windows,
                               request.gpu_hours,
                               request.start_on, request.end_on, operational=factory.operational)
            if not fit.fits:
                if factory.operational:
                    excluded.append(fit.message)
                continue
            hw = _hardware_term(request, partition, specs, fastest, w.hardware)
            cap = _capacity_term(fit, policy.capacity_full_at_headroom, w.capacity)
            points = hw.points + cap.points
            if best is None or points > best[0]:
                best = (points, partition, cap, hw, fit)
        if best is not None and factory.operational:
            _, partition, cap, hw, fit = best
            terms = (cap, factory_terms[0], factory_terms[1], hw, *factory_terms[2:])
            rankings.append(Ranking(factory.id, factory.name, partition.id, True,
                                    round(sum(t.points for t in terms), 3), terms, (), fit))
            continue
        zero_cap = _term("capacity", w.capacity, 0.0, "no partition can take the request")
        zero_hw = _term("hardware", w.hardware, 0.0, "no partition fits the work")
        terms = (zero_cap, factory_terms[0], factory_terms[1], zero_hw, *factory_terms[2:])
        rankings.append(Ranking(factory.id, factory.name, None, False,
                                round(sum(t.points for t in terms), 3), terms,
                                tuple(dict.fromkeys(excluded))))
    rankings.sort(key=lambda r: (not r.eligible, -r.score, r.factory_id))
    return rankings
