"""Pure placement: which of an allocation's sites a job should go to, and queue order.

MultiKueue-style: the broker asks the sites in the order ranked here and the first one that
admits the job wins; a site that does not answer is skipped (routed around). The live broker
(compute.reconciler) and the trace-driven simulator call these same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

SiteKey = tuple[str, str]  # (factory id, partition id)


@dataclass(frozen=True, slots=True)
class Demand:
    gpus: int
    nodes: int
    priority_rank: int  # higher runs first
    gpu_model: str | None = None  # a family ("H100") the job needs, if any
    gpu_memory_gb: int | None = None


@dataclass(frozen=True, slots=True)
class SiteState:
    """What the broker knows of one partition at the moment of the decision."""

    key: SiteKey
    total_gpus: int
    gpus_per_node: int
    free_gpus: int
    gpu_model: str = ""
    gpu_memory_gb: int = 0
    reachable: bool = True
    # GPU-hours of jobs waiting there that would start before this one (same or higher rank).
    ahead_gpu_hours: float = 0.0
    # Hours until running work frees enough GPUs for this job, if known (else estimated).
    drain_hours: float | None = None


class SiteChoice(NamedTuple):
    """One ranked site. Immutable like the other values; a NamedTuple because rank_sites builds
    one per site per decision and the simulator makes hundreds of thousands of decisions."""

    key: SiteKey
    start_in_hours: float  # estimated wait before the job can start there; 0 = now
    reason: str


def fits(demand: Demand, site: SiteState) -> str | None:
    """Why the job can never run on this site, or None when it can."""
    if not site.reachable:
        return "the site does not answer"
    if demand.gpus > site.total_gpus:
        return f"the job needs {demand.gpus} GPUs; the partition has {site.total_gpus}"
    if demand.nodes * site.gpus_per_node < demand.gpus:
        return (f"{demand.nodes} node(s) of {site.gpus_per_node} GPUs cannot hold "
                f"{demand.gpus} GPUs")
    if demand.gpu_model and site.gpu_model and \
            demand.gpu_model.upper() not in site.gpu_model.upper():
        return f"the job needs {demand.gpu_model}; the partition has {site.gpu_model}"
    if demand.gpu_memory_gb and site.gpu_memory_gb and demand.gpu_memory_gb > site.gpu_memory_gb:
        return (f"the job needs {demand.gpu_memory_gb} GB per GPU; the partition's GPUs have "
                f"{site.gpu_memory_gb} GB")
    return None


def start_estimate(demand: Demand, site: SiteState) -> float:
    """Hours until the job could start: now if it fits and nothing is ahead, else the work
    ahead spread over the whole partition (plus what must drain for it to fit)."""
    if site.free_gpus >= demand.gpus and site.ahead_gpu_hours <= 0:
        return 0.0
    wait = site.ahead_gpu_hours / max(site.total_gpus, 1)
    if site.free_gpus < demand.gpus:
        wait += site.drain_hours if site.drain_hours is not None else 1.0
    return wait


def rank_sites(demand: Demand, sites: Sequence[SiteState]) -> list[SiteChoice]:
    """The sites that can run the job, soonest start first; ties: more free GPUs, then the
    order given (the broker lists an allocation's home site, where its capacity is held,
    first)."""
    # Plain tuples sort in C; the choices (and their reasons) are built once, in order.
    ranked = [(start_estimate(demand, site), -site.free_gpus, i, site.key)
              for i, site in enumerate(sites) if fits(demand, site) is None]
    ranked.sort()
    return [SiteChoice(key, wait, _reason(wait)) for wait, _, _, key in ranked]


_REASONS: dict[float, str] = {0.0: "starts now"}


def _reason(wait: float) -> str:
    """The reason text for a wait; memoised, since most waits repeat (1 h when unknown)."""
    text = _REASONS.get(wait)
    if text is None:
        if len(_REASONS) > 4096:
            _REASONS.clear()
            _REASONS[0.0] = "starts now"
        text = _REASONS[wait] = f"starts in about {wait:.1f} h"
    return text


def queue_key(priority_rank: int, submitted_at: float, job_id: int) -> tuple[float, float, int]:
    """Order of a waiting queue: higher class first, then first come, first served."""
    return (-priority_rank, submitted_at, job_id)
