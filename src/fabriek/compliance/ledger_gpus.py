"""Peak dense BF16 FLOP/s of a partition's GPU, for the compute ledger.

From the federation's GPU specification table (`policy/gpu-specs.yaml`, with sources) and each
partition's GPU model as the database has it, so an operator's correction counts.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from fabriek.federation.catalogue import peak_bf16_flops
from fabriek.federation.domain import Federation
from fabriek.federation.service import load_federation

PeakFlops = Callable[[str, str], float | None]  # (factory, partition) -> FLOP/s or None


def peak_flops_of(federation: Federation) -> PeakFlops:
    """A (factory, partition) -> peak FLOP/s lookup over the federation's partitions."""
    table = {p.key: peak_bf16_flops(p.gpu_model, federation) for p in federation.partitions()}

    def peak(factory: str, partition: str) -> float | None:
        return table.get((factory, partition))

    return peak


def peak_flops_now(session: Session) -> PeakFlops:
    """The lookup over the partitions as they stand in the database."""
    return peak_flops_of(load_federation(session))
