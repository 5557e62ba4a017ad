"""Options shared by several commands, as Annotated aliases (huggingface_hub's TokenOpt idea)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from fabriek.access.enums import EthicsCommitment

DATE_FORMATS = ["%Y-%m-%d"]


def parse_decimal(value: str) -> Decimal:
    """Euro amounts stay exact: 1200000, 1_200_000 and 1.2e6 are all accepted."""
    try:
        amount = Decimal(value.replace(",", "_").replace(" ", ""))
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not an amount in euro") from None
    if not amount.is_finite():
        raise typer.BadParameter(f"{value!r} is not an amount in euro")
    return amount


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables (scripts).")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=200, help="At most this many.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Fetch every page, not just the first.")]
IdempotencyKeyOpt = Annotated[str | None, typer.Option(
    "--idempotency-key", help="Reuse the same key to retry safely: the server acts once.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; recorded in the audit log.")]

# Proposal fields, shared by `proposal create`, `proposal edit` and `allocation direct`.
FileOpt = Annotated[Path | None, typer.Option(
    "--file", "-f", exists=True, dir_okay=False, readable=True,
    help="YAML or JSON with the fields of ProposalCreate; options given override it.")]
TitleOpt = Annotated[str | None, typer.Option("--title", help="Title of the work.")]
AbstractOpt = Annotated[str | None, typer.Option("--abstract", help="What you will do.")]
SectorOpt = Annotated[str | None, typer.Option(
    "--sector", help="Sector, e.g. health, energy, language.")]
GpuHoursOpt = Annotated[int | None, typer.Option(
    "--gpu-hours", min=1, help="GPU-hours requested.")]
DurationOpt = Annotated[int | None, typer.Option(
    "--duration-months", min=1, max=60, help="Length of the allocation in months.")]
StartOnOpt = Annotated[datetime | None, typer.Option(
    "--start-on", formats=DATE_FORMATS, help="First day, YYYY-MM-DD.")]
IntendedSystemOpt = Annotated[str | None, typer.Option(
    "--intended-system", help="The AI system or model the compute is for.")]
GpuModelOpt = Annotated[str | None, typer.Option("--gpu-model", help="e.g. H100, GH200.")]
GpuMemoryOpt = Annotated[int | None, typer.Option(
    "--gpu-memory-gb", min=1, help="GPU memory needed per GPU.")]
StorageOpt = Annotated[float | None, typer.Option(
    "--storage-tb", min=0, help="Storage in TB.")]
DatasetOpt = Annotated[list[str] | None, typer.Option(
    "--dataset", help="A dataset the work needs (repeatable).")]
LanguageOpt = Annotated[list[str] | None, typer.Option(
    "--language", help="ISO 639-1 code of a language you want support in (repeatable); the "
                       "referral prefers factories that offer it.")]
InferenceShareOpt = Annotated[float | None, typer.Option(
    "--inference-share", min=0, max=1, help="Share of GPU-hours for inference, 0 to 1.")]
CivilianOpt = Annotated[bool | None, typer.Option(
    "--civilian/--not-civilian", help="Declare the intended use (AI Factories: civilian only).")]
ConfidentialOpt = Annotated[bool | None, typer.Option(
    "--confidential/--not-confidential", help="Keep the proposal's details confidential.")]
EthicsOpt = Annotated[EthicsCommitment | None, typer.Option(
    "--ethics", help="The ethics commitment signed: ai-pact or platform-declaration.")]
SignedByOpt = Annotated[str | None, typer.Option(
    "--signed-by", help="Who signed the ethics commitment.")]
