"""The Slurm executor: slurmrestd first, Slurm's CLI where REST cannot (see executor.py)."""

from fabriek.compute.executors.slurm.executor import SlurmExecutor
from fabriek.compute.executors.slurm.provision import close_account, ensure_account

__all__ = ["SlurmExecutor", "close_account", "ensure_account"]
