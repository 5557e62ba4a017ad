"""Executors are built from the federation: only connected partitions, local one as before."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.registry import build_executors
from fabriek.federation.catalogue import load_catalogue
from fabriek.federation.domain import ExecutorKind
from fabriek.settings import Settings

pytestmark = pytest.mark.unit


def test_only_the_local_factory_gets_an_executor(tmp_path: Path) -> None:
    federation = load_catalogue().federation
    executors = build_executors(Settings(data_dir=tmp_path), federation)
    assert list(executors.partitions) == [("local", "gpu")]
    [(key, executor)] = executors.all()
    assert key == ("local", "gpu") and isinstance(executor, LocalExecutor)
    assert executors.capacity_gpus("local", "gpu") == 4
    assert (tmp_path / "spool" / "local" / "gpu").is_dir()


def test_slurm_partition_without_a_connection_waits(tmp_path: Path) -> None:
    federation = load_catalogue().federation
    jaif = federation.by_id["jaif"]
    connected = replace(jaif, partitions=tuple(replace(p, executor=ExecutorKind.slurm)
                                               for p in jaif.partitions))
    federation = replace(federation, by_id={}, factories=tuple(
        connected if f.id == "jaif" else f for f in federation.factories))
    executors = build_executors(Settings(data_dir=tmp_path, slurm_rest_url=None), federation)
    assert set(executors.partitions) == {("local", "gpu"), ("jaif", "booster")}
    assert [k for k, _ in executors.all()] == [("local", "gpu")]  # jaif waits: no slurmrestd
