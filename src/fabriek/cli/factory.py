"""`fabriek factory`: the catalogue of AI Factories and Antennas, capacity and maintenance;
`fabriek gpu-specs`: the GPU specification table."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.text import Text

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.options import AllOpt, IdempotencyKeyOpt, JsonOpt, LimitOpt
from fabriek.federation.schemas import (
    FactoryRead,
    FactorySummary,
    GpuSpecRead,
    MaintenanceRead,
    PartitionRead,
)

app = typer.Typer(help="AI Factories and Antennas: catalogue, capacity, maintenance.",
                  no_args_is_help=True)
maintenance_app = typer.Typer(help="Maintenance windows of a factory.", no_args_is_help=True)
app.add_typer(maintenance_app, name="maintenance")

FactoryArg = Annotated[str, typer.Argument(help="Factory id, e.g. it4lia (see factory list).")]
BASIS_STYLES = {"published": "green", "operator": "bold green", "estimate": "yellow"}


def _basis(values: list[str] | str) -> Text:
    items = [values] if isinstance(values, str) else values
    if not items:
        return Text("—", style="dim")
    text = Text()
    for i, value in enumerate(items):
        text.append(("" if i == 0 else ", ") + str(value), style=BASIS_STYLES.get(str(value), ""))
    return text


def _factories(items: list[FactorySummary]) -> None:
    if not items:
        out.note("No factories match.")
        return
    out.show(out.table("Factories and antennas", [
        "id", "name", "kind", "country", "GPUs", "basis", "running", "sectors", "linked to"],
        [(f.id, f.name, f.kind, f.country, f.gpus or None, _basis(f.capacity_basis),
          out.yes_no(f.operational), f.sectors, f.linked_factory) for f in items]))
    out.note("GPU counts marked estimate are placeholders until the operator sets them.")


def _partitions(parts: list[PartitionRead]) -> None:
    out.show(out.table("Partitions", [
        "id", "GPU model", "GB", "GPUs/node", "nodes", "GPUs", "basis", "executor"],
        [(p.id, p.gpu_model, p.gpu_memory_gb, p.gpus_per_node, p.nodes, p.gpus,
          _basis(p.capacity_basis), p.executor) for p in parts],
        nowrap=("id", "GPU model", "basis")))
    for p in parts:
        out.note(f"{p.id}: {p.capacity_note}")


def _windows(windows: list[MaintenanceRead]) -> None:
    if not windows:
        out.note("No maintenance windows.")
        return
    out.show(out.table("Maintenance windows", [
        "id", "partition", "starts", "ends", "GPUs", "reason"],
        [(w.id, w.partition_id or "all", w.starts_at.isoformat(timespec="minutes"),
          w.ends_at.isoformat(timespec="minutes"), w.gpus or "all", w.reason)
         for w in windows], nowrap=("id", "starts", "ends")))


def _factory(f: FactoryRead) -> None:
    out.show(out.fields(f"{f.name} ({f.id})", [
        ("kind", f.kind), ("country", f.country), ("site", f.site),
        ("hosting entity", f.hosting_entity), ("supercomputer", f.supercomputer),
        ("system status", f.system_status), ("running", out.yes_no(f.operational)),
        ("accelerators", f.accelerators), ("sector focus", f.sector_focus),
        ("sectors", f.sectors), ("languages", f.languages), ("datasets", f.datasets),
        ("linked factory", f.linked_factory), ("selected", f.selection_on),
        ("GPUs", f.gpus), ("catalogue", f.catalogue_version)]))
    if f.partitions:
        _partitions(f.partitions)
    else:
        out.note("No partitions: an antenna gives access to its linked factory's compute.")
    _windows(f.maintenance)
    if f.sources:
        out.show(out.table("Sources", ["url"], [(s,) for s in f.sources]))


def _gpu_specs(specs: list[GpuSpecRead]) -> None:
    out.show(out.table("GPU specifications (peak dense BF16 per GPU)", [
        "model", "family", "memory GB", "BF16 TFLOPS", "checked", "source"],
        [(g.model, g.family, g.memory_gb, g.bf16_dense_tflops, out.yes_no(g.checked),
          g.source_url) for g in specs], nowrap=("model",)))


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(
        "--kind", help="ai-factory, antenna or local.")] = None,
    country: Annotated[str | None, typer.Option(
        "--country", help="ISO 3166-1 alpha-2, e.g. DE.")] = None,
    sector: Annotated[str | None, typer.Option(
        "--sector", help="A sector id or synonym, e.g. health or healthcare.")] = None,
    limit: LimitOpt = 50,
    all: AllOpt = False,
    json: JsonOpt = False,
) -> None:
    """AI Factories and Antennas, with their GPUs and where the figures come from.

    Example: fabriek factory list --sector health --country ES
    """
    items = client(ctx).factories.list(kind=kind, country=country, sector=sector, limit=limit,
                                       all=all)
    out.emit(items, json, _factories)


@app.command()
def show(ctx: typer.Context, factory_id: FactoryArg, json: JsonOpt = False) -> None:
    """One factory: site, system, partitions, capacity basis, maintenance, sources.

    Example: fabriek factory show jaif
    """
    out.emit(client(ctx).factories.get(factory_id), json, _factory)


@app.command("set-capacity")
def set_capacity(
    ctx: typer.Context,
    factory_id: FactoryArg,
    partition: Annotated[str, typer.Argument(help="Partition id, e.g. ai.")],
    nodes: Annotated[int, typer.Option("--nodes", min=1, help="Nodes in the partition.")],
    gpus_per_node: Annotated[int, typer.Option("--gpus-per-node", min=1, max=64)],
    gpu_model: Annotated[str | None, typer.Option(
        "--gpu-model", help="A model from `fabriek gpu-specs`; default: unchanged.")] = None,
    gpu_memory_gb: Annotated[int | None, typer.Option(
        "--gpu-memory-gb", min=1, help="Default: the model's memory.")] = None,
    note: Annotated[str, typer.Option("--note", help="Where the figures come from.")] = "",
    json: JsonOpt = False,
) -> None:
    """Operators: set a partition's real capacity (replaces the catalogue's estimate).

    Example: fabriek factory set-capacity it4lia ai --nodes 1200 --gpus-per-node 4 \\
        --gpu-model B200 --note "acceptance test report"
    """
    body = {"nodes": nodes, "gpus_per_node": gpus_per_node, "gpu_model": gpu_model,
            "gpu_memory_gb": gpu_memory_gb, "note": note}
    result = client(ctx).factories.set_capacity(
        factory_id, partition, {k: v for k, v in body.items() if v is not None})
    if json:
        out.print_json(result)
        return
    out.success(f"{factory_id}/{partition}: {result.nodes:,} nodes × {result.gpus_per_node} "
                f"{result.gpu_model} = {result.gpus:,} GPUs (basis {result.capacity_basis})")


@maintenance_app.command("add")
def maintenance_add(
    ctx: typer.Context,
    factory_id: FactoryArg,
    starts_at: Annotated[datetime, typer.Option(
        "--starts-at", help="UTC, e.g. 2026-12-01T08:00.")],
    ends_at: Annotated[datetime, typer.Option("--ends-at", help="UTC, after --starts-at.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; shown to users.")],
    partition: Annotated[str | None, typer.Option(
        "--partition", help="Default: the whole factory.")] = None,
    gpus: Annotated[int | None, typer.Option(
        "--gpus", min=1, help="GPUs out of service; default: all.")] = None,
    idempotency_key: IdempotencyKeyOpt = None,
    json: JsonOpt = False,
) -> None:
    """Operators: announce a maintenance window. Times without a zone are UTC.

    Example: fabriek factory maintenance add jaif --partition booster \\
        --starts-at 2026-12-01T08:00 --ends-at 2026-12-02T18:00 --reason "firmware"
    """
    def utc(value: datetime) -> str:
        return value.isoformat() if value.tzinfo else value.isoformat() + "Z"

    body = {"partition_id": partition, "starts_at": utc(starts_at), "ends_at": utc(ends_at),
            "gpus": gpus, "reason": reason}
    window = client(ctx).factories.add_maintenance(
        factory_id, {k: v for k, v in body.items() if v is not None},
        idempotency_key=idempotency_key)
    if json:
        out.print_json(window)
        return
    out.success(f"maintenance window {window.id} on {factory_id}")


@maintenance_app.command("list")
def maintenance_list(ctx: typer.Context, factory_id: FactoryArg, json: JsonOpt = False) -> None:
    """A factory's maintenance windows.

    Example: fabriek factory maintenance list jaif
    """
    out.emit(client(ctx).factories.maintenance(factory_id), json, _windows)


@maintenance_app.command("remove")
def maintenance_remove(ctx: typer.Context, factory_id: FactoryArg,
                       window_id: Annotated[int, typer.Argument(help="Window id.")],
                       json: JsonOpt = False) -> None:
    """Operators: withdraw a maintenance window.

    Example: fabriek factory maintenance remove jaif 3
    """
    client(ctx).factories.remove_maintenance(factory_id, window_id)
    if json:
        out.print_json({"removed": window_id, "factory": factory_id})
        return
    out.success(f"maintenance window {window_id} removed from {factory_id}")


@app.command("add-operator")
def add_operator(
    ctx: typer.Context,
    factory_id: FactoryArg,
    email: Annotated[str, typer.Option("--email", help="A person with the factory-operator "
                                                       "role.")],
    idempotency_key: IdempotencyKeyOpt = None,
    json: JsonOpt = False,
) -> None:
    """Access officers: make someone an operator of this factory (only of this one).

    Example: fabriek factory add-operator jaif --email ops@fz-juelich.example
    """
    factory = client(ctx).factories.add_operator(factory_id, email,
                                                 idempotency_key=idempotency_key)
    if json:
        out.print_json(factory)
        return
    out.success(f"{email} now operates {factory.id}")


def gpu_specs(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Peak dense BF16 throughput and memory per GPU model, with the source of each figure.

    Example: fabriek gpu-specs --json
    """
    out.emit(client(ctx).gpu_specs(), json, _gpu_specs)
