"""Peak dense BF16 FLOP/s of a partition's GPU, for the compute ledger.

REPLACED AT MERGE: the federation capability is writing
`fabriek.federation.catalogue.peak_bf16_flops(gpu_model)` with the real GPU spec table; until
then this small adapter reads a partition's gpu_model from the access policy's factories and
looks it up in the few GPUs below (vendor data sheets, dense, without sparsity).
"""

from __future__ import annotations

from collections.abc import Callable

from fabriek.access.policy_files import FactoriesConfig

PeakFlops = Callable[[str, str], float | None]  # (factory, partition) -> FLOP/s or None

_PEAK_BF16_DENSE: dict[str, float] = {
    "h100": 989.4e12,    # H100 SXM5
    "h200": 989.4e12,
    "gh200": 989.4e12,
    "a100": 312e12,
    "b200": 2.25e15,
    "mi250x": 383e12,
    "mi300a": 980.6e12,
    "mi300x": 1307.4e12,
    "l40s": 362.05e12,
}


def peak_bf16_flops(gpu_model: str) -> float | None:
    return _PEAK_BF16_DENSE.get(gpu_model.strip().lower())


def peak_flops_from_factories(factories: FactoriesConfig) -> PeakFlops:
    """A (factory, partition) -> peak FLOP/s lookup over the configured partitions."""
    table = {(f.id, p.id): peak_bf16_flops(p.gpu_model)
             for f in factories.factories for p in f.partitions}

    def peak(factory: str, partition: str) -> float | None:
        return table.get((factory, partition))

    return peak
