"""`fabriek audit`: read the append-only audit log; verify its hash chain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from fabriek.cli import output as out
from fabriek.cli import views
from fabriek.cli.context import cli_context, client
from fabriek.cli.options import AllOpt, JsonOpt, LimitOpt

if TYPE_CHECKING:
    from fabriek.audit.schemas import ChainReport

app = typer.Typer(help="The audit log: who did what, when and why.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    subject_type: Annotated[str | None, typer.Option(
        "--subject-type", help="proposal, organisation, allocation, user.")] = None,
    subject_id: Annotated[int | None, typer.Option("--subject-id")] = None,
    limit: LimitOpt = 50,
    all: AllOpt = False,
    json: JsonOpt = False,
) -> None:
    """Audit events you may see (access officers: all; members: their organisations').

    Example: fabriek audit list --subject-type proposal --subject-id 7
    """
    rows = client(ctx).audit.events(subject_type=subject_type, subject_id=subject_id,
                                    limit=limit, all=all)
    out.emit(rows, json, views.audit_events)


def _render_report(report: ChainReport) -> None:
    if report.ok:
        out.success(f"audit chain intact: {report.entries:,} entries")
        out.show(out.fields(None, [("Head seq", report.head_seq),
                                   ("Head hash", report.head_hash)]))
        return
    for problem in report.problems[:-1]:
        out.error(problem)
    out.error(report.problems[-1], "the log was changed outside Fabriek: compare it with a "
              "backup; `fabriek audit list` shows the entries")


@app.command()
def verify(
    ctx: typer.Context,
    api: Annotated[bool, typer.Option(
        "--api", help="Ask the server (access officers) instead of reading the database.")]
    = False,
    json: JsonOpt = False,
) -> None:
    """Recompute the audit hash chain; exit 1 and name each problem if it is broken.

    Runs on the server host against the database in FABRIEK_DATA_DIR / FABRIEK_DATABASE_URL.

    Example: fabriek audit verify
    """
    from fabriek.cli import inprocess

    if api:
        report = client(ctx).audit.verify()
    else:
        report = inprocess.verify_audit_chain(cli_context(ctx).settings())
    out.emit(report, json, _render_report)
    if not report.ok:
        raise typer.Exit(1)
