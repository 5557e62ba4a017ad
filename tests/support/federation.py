"""Test set-up for the federation: a connected factory of the tests' own, as an operator
would register one (the catalogue's factories are not connected to this installation)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fabriek.federation.domain import CapacityBasis, ExecutorKind
from fabriek.federation.models import Factory, Partition


def add_factory(session: Session, factory_id: str, *, number: int, country: str = "SE",
                executor: ExecutorKind = ExecutorKind.local, gpu_model: str = "H100-SXM5-80GB",
                gpu_memory_gb: int = 80, gpus_per_node: int = 4, nodes: int = 1,
                languages: tuple[str, ...] = ("en",)) -> None:
    session.add(Factory(id=factory_id, number=number, name=f"{factory_id} factory",
                        kind="ai-factory", country=country, sectors=[],
                        languages=list(languages), datasets=[], operational=True, sources=[],
                        catalogue_version="test", site="", hosting_entity="", supercomputer="",
                        system_status="", sector_focus=""))
    session.flush()
    session.add(Partition(factory_id=factory_id, id="gpu", gpu_model=gpu_model,
                          gpu_memory_gb=gpu_memory_gb, gpus_per_node=gpus_per_node, nodes=nodes,
                          capacity_basis=CapacityBasis.operator, executor=executor))
