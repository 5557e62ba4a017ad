"""`fabriek allocation`: GPU-hours granted, used and left; direct allocations."""

from __future__ import annotations

from typing import Annotated

import typer

from fabriek.cli import inputs, views
from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.errors import UsageProblem
from fabriek.cli.options import (
    AbstractOpt,
    AllOpt,
    CivilianOpt,
    ConfidentialOpt,
    DatasetOpt,
    DurationOpt,
    EthicsOpt,
    FileOpt,
    GpuHoursOpt,
    GpuMemoryOpt,
    GpuModelOpt,
    IdempotencyKeyOpt,
    InferenceShareOpt,
    IntendedSystemOpt,
    JsonOpt,
    LanguageOpt,
    LimitOpt,
    SectorOpt,
    SignedByOpt,
    StartOnOpt,
    StorageOpt,
    TitleOpt,
)

app = typer.Typer(help="Allocations: GPU-hours on a factory partition.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    org: Annotated[int | None, typer.Option("--org", help="Organisation id.")] = None,
    limit: LimitOpt = 50,
    all: AllOpt = False,
    json: JsonOpt = False,
) -> None:
    """Allocations you may see.

    Example: fabriek allocation list --org 1
    """
    out.emit(client(ctx).allocations.list(organisation_id=org, limit=limit, all=all), json,
             views.allocations)


@app.command()
def show(ctx: typer.Context,
         allocation_id: Annotated[int, typer.Argument(help="Allocation id.")],
         json: JsonOpt = False) -> None:
    """An allocation: factory, partition, dates, priority, and GPU-hours used and left.

    Example: fabriek allocation show 1
    """
    out.emit(client(ctx).allocations.get(allocation_id), json, views.allocation)


@app.command()
def move(
    ctx: typer.Context,
    allocation_id: Annotated[int, typer.Argument(help="Allocation id.")],
    site: Annotated[list[str], typer.Option(
        "--site", help="FACTORY/PARTITION=GPU-HOURS, its part of the grant (repeatable; 0: "
                       "valid there without holding capacity).")],
    reason: Annotated[str, typer.Option("--reason", help="Why; audited.")],
    json: JsonOpt = False,
) -> None:
    """Access officers: move or split an allocation over factories, from today to its end.

    Example: fabriek allocation move 3 --site jaif/booster=30000 --site local/gpu=0 \\
        --reason "the applicant's data moved to Jülich"
    """
    shares: dict[str, float] = {}
    for item in site:
        key, sep, hours = item.partition("=")
        try:
            if not sep or "/" not in key:
                raise ValueError
            shares[key.strip()] = float(hours)
        except ValueError:
            raise UsageProblem(f"--site {item!r}: write FACTORY/PARTITION=GPU-HOURS, e.g. "
                               "jaif/booster=30000") from None
    out.emit(client(ctx).allocations.move(allocation_id, shares, reason), json,
             views.allocation)


@app.command()
def direct(
    ctx: typer.Context,
    org: Annotated[int | None, typer.Option("--org", help="Organisation id.")] = None,
    mode: Annotated[str | None, typer.Option(
        "--mode", help="A direct mode: strategic or emergency.")] = None,
    reasons: Annotated[str | None, typer.Option(
        "--reasons", help="Why this is allocated without a call; audited.")] = None,
    factory: Annotated[str | None, typer.Option(
        "--factory", help="Allocate here instead of the referral's first choice.")] = None,
    partition: Annotated[str | None, typer.Option("--partition")] = None,
    override_reason: Annotated[str | None, typer.Option(
        "--override-reason", help="Why the referral's first choice is overridden; audited.")
    ] = None,
    title: TitleOpt = None,
    abstract: AbstractOpt = None,
    sector: SectorOpt = None,
    gpu_hours: GpuHoursOpt = None,
    duration_months: DurationOpt = None,
    start_on: StartOnOpt = None,
    intended_system: IntendedSystemOpt = None,
    gpu_model: GpuModelOpt = None,
    gpu_memory_gb: GpuMemoryOpt = None,
    storage_tb: StorageOpt = None,
    datasets: DatasetOpt = None,
    languages: LanguageOpt = None,
    inference_share: InferenceShareOpt = None,
    civilian_use: CivilianOpt = None,
    confidential: ConfidentialOpt = None,
    ethics_commitment: EthicsOpt = None,
    ethics_signed_by: SignedByOpt = None,
    file: FileOpt = None,
    idempotency_key: IdempotencyKeyOpt = None,
    json: JsonOpt = False,
) -> None:
    """Access officers: allocate at once for a strategic project or an emergency.

    The admission checks still apply (eligibility, ethics, civilian use, capacity). The
    allocation goes to the referral's first choice unless --factory names another, with
    --override-reason.

    Example:

        fabriek allocation direct --org 4 --mode emergency --reasons "flood forecasting" \\
            --title "Rhine flood ensemble" --abstract "..." --sector climate \\
            --gpu-hours 20000 --duration-months 1 --start-on 2026-12-01 \\
            --intended-system "flood model" --civilian --ethics ai-pact --signed-by "J. Smit"
    """
    data = inputs.merge(file, {"organisation_id": org, "mode": mode, "reasons": reasons,
                               "factory": factory, "partition": partition,
                               "override_reason": override_reason,
                               **inputs.proposal_fields(locals())})
    inputs.require(data, {"organisation_id": "--org", "mode": "--mode", "reasons": "--reasons",
                          **inputs.REQUIRED_PROPOSAL_FIELDS}, "fabriek allocation direct")
    proposal = client(ctx).allocations.direct(data, idempotency_key=idempotency_key)
    out.emit(proposal, json, views.proposal)
