"""`fabriek proposal`: draft, submit, follow, withdraw, appeal; decide (access officers)."""

from __future__ import annotations

from typing import Annotated

import typer

from fabriek.access.enums import DecisionOutcome, ProposalState, ReviewKind
from fabriek.access.schemas import ProposalRead
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
    ReasonOpt,
    SectorOpt,
    SignedByOpt,
    StartOnOpt,
    StorageOpt,
    TitleOpt,
)

app = typer.Typer(help="Proposals: draft, submit, follow, decide.", no_args_is_help=True)

ProposalArg = Annotated[int, typer.Argument(help="Proposal id (`fabriek proposal list`).")]
OrgOpt = Annotated[int | None, typer.Option(
    "--org", help="Organisation id applying (`fabriek org list`).")]
ModeOpt = Annotated[str | None, typer.Option(
    "--mode", help="Access mode, e.g. playground, fast-lane (`fabriek policy modes`).")]


def _next_step(p: ProposalRead) -> str | None:
    if p.state is ProposalState.draft:
        return f"Next: `fabriek proposal submit {p.id}`."
    if p.state in ProposalState.accepted_states() and p.allocation_ids:
        return f"Next: `fabriek allocation show {p.allocation_ids[0]}`."
    if p.state is ProposalState.rejected and p.appeal_reason is None:
        return f"You may appeal once: `fabriek proposal appeal {p.id} --reason ...`."
    return None


def _print(p: ProposalRead, json: bool) -> None:
    out.emit(p, json, views.proposal)
    hint = None if json else _next_step(p)
    if hint:
        out.note(hint)


@app.command()
def create(
    ctx: typer.Context,
    org: OrgOpt = None,
    mode: ModeOpt = None,
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
    self_assessment: Annotated[int | None, typer.Option(
        "--self-assessment", help="Attach this AI Act self-assessment (`fabriek act assess`); "
        "every proposal needs one.")] = None,
    submit: Annotated[bool, typer.Option(
        "--submit", help="Submit in the same request: the admission checks run and "
        "Playground is decided at once; if anything is refused, no draft is left.")] = False,
    idempotency_key: IdempotencyKeyOpt = None,
    json: JsonOpt = False,
) -> None:
    """Draft a proposal from options, or from --file proposal.yaml (options override it).

    Example:

        fabriek proposal create --org 1 --mode playground --title "Dutch legal LLM" \\
            --abstract "Fine-tune a 7B model on case law" --sector language \\
            --gpu-hours 2000 --duration-months 2 --start-on 2026-12-01 \\
            --intended-system "legal assistant" --gpu-model H100 --civilian \\
            --ethics platform-declaration --signed-by "Eva de Vries" \\
            --self-assessment 3 --submit

        fabriek proposal create --file proposal.yaml --org 1
    """
    data = inputs.merge(file, {"organisation_id": org, "mode": mode,
                               **inputs.proposal_fields(locals())})
    inputs.require(data, {"organisation_id": "--org", "mode": "--mode",
                          **inputs.REQUIRED_PROPOSAL_FIELDS}, "fabriek proposal create")
    if self_assessment is not None:
        data["self_assessment_id"] = self_assessment
    if submit:
        data["submit"] = True
    # One request: drafted, given its self-assessment and submitted together, or not at all.
    _print(client(ctx).proposals.create(data, idempotency_key=idempotency_key), json)


@app.command()
def edit(
    ctx: typer.Context,
    proposal_id: ProposalArg,
    mode: ModeOpt = None,
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
    json: JsonOpt = False,
) -> None:
    """Change a draft; only the fields given change.

    Example: fabriek proposal edit 7 --gpu-hours 1500 --duration-months 1
    """
    data = inputs.merge(file, {"mode": mode, **inputs.proposal_fields(locals())})
    if not data:
        raise UsageProblem("nothing to change", "give at least one field; "
                           "`fabriek proposal edit --help`")
    _print(client(ctx).proposals.update(proposal_id, data), json)


@app.command()
def submit(ctx: typer.Context, proposal_id: ProposalArg,
           idempotency_key: IdempotencyKeyOpt = None, json: JsonOpt = False) -> None:
    """Submit a draft: the admission checks run at once; Playground is decided on them.

    Example: fabriek proposal submit 7
    """
    _print(client(ctx).proposals.submit(proposal_id, idempotency_key=idempotency_key), json)


@app.command()
def show(ctx: typer.Context, proposal_id: ProposalArg, json: JsonOpt = False) -> None:
    """A proposal with its admission checks, reviews and decision.

    Example: fabriek proposal show 7
    """
    _print(client(ctx).proposals.get(proposal_id), json)


@app.command("list")
def list_(
    ctx: typer.Context,
    state: Annotated[ProposalState | None, typer.Option("--state")] = None,
    mode: ModeOpt = None,
    org: Annotated[int | None, typer.Option("--org", help="Organisation id.")] = None,
    limit: LimitOpt = 50,
    all: AllOpt = False,
    json: JsonOpt = False,
) -> None:
    """Proposals you may see, optionally filtered.

    Example: fabriek proposal list --state in-review --mode fast-lane
    """
    rows = client(ctx).proposals.list(state=state.value if state else None, mode=mode,
                                      organisation_id=org, limit=limit, all=all)
    out.emit(rows, json, views.proposals)


@app.command()
def withdraw(ctx: typer.Context, proposal_id: ProposalArg, reason: ReasonOpt,
             json: JsonOpt = False) -> None:
    """Withdraw a proposal that is not yet decided.

    Example: fabriek proposal withdraw 7 --reason "project cancelled"
    """
    _print(client(ctx).proposals.withdraw(proposal_id, reason), json)


@app.command()
def appeal(ctx: typer.Context, proposal_id: ProposalArg, reason: ReasonOpt,
           json: JsonOpt = False) -> None:
    """Appeal a rejection (once).

    Example: fabriek proposal appeal 7 --reason "the head-count was vouched on 2 May"
    """
    _print(client(ctx).proposals.appeal(proposal_id, reason), json)


@app.command()
def decide(
    ctx: typer.Context,
    proposal_id: ProposalArg,
    outcome: Annotated[DecisionOutcome, typer.Option("--outcome")],
    reasons: Annotated[str, typer.Option("--reasons", help="Why; shown to the applicant.")],
    gpu_hours_granted: Annotated[int | None, typer.Option(
        "--gpu-hours-granted", min=1, help="For accept-reduced: the GPU-hours granted.")] = None,
    factory: Annotated[str | None, typer.Option(
        "--factory", help="Allocate here instead of the referral's first choice.")] = None,
    partition: Annotated[str | None, typer.Option("--partition")] = None,
    override_reason: Annotated[str | None, typer.Option(
        "--override-reason", help="Why the referral's first choice is overridden; audited.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Access officers: accept, accept with less, or reject a proposal in review.

    The allocation goes to the referral's first choice (`fabriek refer ID` shows the ranking)
    unless --factory names another, with --override-reason.

    Example: fabriek proposal decide 7 --outcome accept-reduced --gpu-hours-granted 30000 \\
        --reasons "scaling plan covers 30k GPU-hours"
    """
    _print(client(ctx).proposals.decide(
        proposal_id, outcome.value, reasons, gpu_hours_granted=gpu_hours_granted,
        factory=factory, partition=partition, override_reason=override_reason), json)


@app.command("appeal-decision")
def appeal_decision(
    ctx: typer.Context,
    proposal_id: ProposalArg,
    reopen: Annotated[bool, typer.Option(
        "--reopen/--dismiss", help="Reopen for review, or let the rejection stand.")],
    reason: ReasonOpt,
    json: JsonOpt = False,
) -> None:
    """Access officers: reopen an appealed proposal for review, or dismiss the appeal.

    Example: fabriek proposal appeal-decision 7 --reopen --reason "new evidence on size"
    """
    _print(client(ctx).proposals.decide_appeal(proposal_id, reopen=reopen, reason=reason), json)


@app.command("assign-reviewer")
def assign_reviewer(
    ctx: typer.Context,
    proposal_id: ProposalArg,
    reviewer: Annotated[int, typer.Option("--reviewer", help="User id of the reviewer.")],
    kind: Annotated[ReviewKind, typer.Option("--kind")],
    json: JsonOpt = False,
) -> None:
    """Access officers: assign a reviewer (never one from the applicant organisation).

    Example: fabriek proposal assign-reviewer 7 --reviewer 12 --kind technical
    """
    review = client(ctx).proposals.assign_reviewer(proposal_id, reviewer, kind.value)
    out.emit(review, json, lambda r: out.success(
        f"review {r.id} ({r.kind.value}) assigned to user {r.reviewer_id} on proposal "
        f"{r.proposal_id}"))
