"""Which executor runs the jobs of each factory partition, built once from the federation.

Only partitions connected to this installation (executor `local` or `slurm`) get one; the
catalogue's other factories are for capacity planning and referral.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabriek.compute.executors.base import Executor
from fabriek.errors import Unavailable
from fabriek.federation.domain import ExecutorKind, Federation, PartitionProfile
from fabriek.settings import Settings


@dataclass
class Executors:
    by_partition: dict[tuple[str, str], Executor] = field(default_factory=dict)
    partitions: dict[tuple[str, str], PartitionProfile] = field(default_factory=dict)

    def get(self, factory: str, partition: str) -> Executor:
        try:
            return self.by_partition[(factory, partition)]
        except KeyError:
            raise Unavailable(f"no executor is configured for {factory}/{partition}") from None

    def capacity_gpus(self, factory: str, partition: str) -> int:
        p = self.partitions[(factory, partition)]
        return p.gpus_per_node * p.nodes

    def all(self) -> list[tuple[tuple[str, str], Executor]]:
        return list(self.by_partition.items())


def build_executors(settings: Settings, federation: Federation, *,
                    namespace: str | None = None) -> Executors:
    """One executor per connected partition: `local` runs processes here (spool directory
    data_dir/spool/<factory>/<partition>, one slot per GPU); `slurm` talks to slurmrestd."""
    registry = Executors()
    for factory in federation.factories:
        for partition in factory.partitions:
            if partition.executor is ExecutorKind.none:
                continue  # not connected to this installation
            key = (factory.id, partition.id)
            registry.partitions[key] = partition
            if partition.executor is ExecutorKind.local:
                from fabriek.compute.executors.local import LocalExecutor

                registry.by_partition[key] = LocalExecutor(
                    settings.data_dir / "spool" / factory.id / partition.id,
                    gpu_slots=partition.gpus_per_node * partition.nodes)
            else:
                from fabriek.compute.executors.slurm.executor import SlurmExecutor

                if not settings.slurm_rest_url:
                    continue  # not connected: jobs for it wait in pending-submit
                registry.by_partition[key] = SlurmExecutor(
                    settings.slurm_rest_url, settings.slurm_user,
                    token=settings.slurm_jwt, jwt_key_path=settings.slurm_jwt_key,
                    api_version=settings.slurm_api_version, cluster=settings.slurm_cluster,
                    scratch_dir=settings.slurm_scratch_dir,
                    use_cli_fallback=settings.slurm_cli_fallback, namespace=namespace)
    return registry
