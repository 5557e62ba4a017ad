"""The `fabriek` command: user commands go through the API client; operator commands
(`serve`, `db`, `admin`, `audit verify`, `demo`) run in-process on the server host."""

from __future__ import annotations

from typing import Annotated

import typer

from fabriek import __version__
from fabriek.cli import (
    act,
    admin,
    allocation,
    audit,
    cutoff,
    data,
    demo,
    factory,
    job,
    observatory,
    org,
    policy,
    proposal,
    review,
    simulate,
)
from fabriek.cli import refer as refer_module
from fabriek.cli import serve as serve_module
from fabriek.cli import user as user_module
from fabriek.cli.context import CliContext
from fabriek.cli.errors import FabriekGroup
from fabriek.client import DEFAULT_SERVER

app = typer.Typer(
    name="fabriek",
    cls=FabriekGroup,
    help="Fabriek: the one-stop shop for Europe's AI Factories.\n\n"
         "Start here: `fabriek demo` runs the whole path on this machine in seconds.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fabriek {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    server: Annotated[str, typer.Option(
        "--server", envvar="FABRIEK_SERVER", help="Base URL of the Fabriek server.")]
    = DEFAULT_SERVER,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="FABRIEK_TOKEN", show_default=False,
        help="API token (`fabriek admin create-token`).")] = None,
    debug: Annotated[bool, typer.Option(
        "--debug", envvar="FABRIEK_DEBUG", help="Show full tracebacks.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Fabriek: the one-stop shop for Europe's AI Factories."""
    # Tests hand in their own CliContext (a client on an in-process app) as the Typer obj.
    state = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()
    state.server, state.token, state.debug = server.rstrip("/"), token, debug
    ctx.obj = state


app.add_typer(org.app, name="org")
app.add_typer(proposal.app, name="proposal")
app.add_typer(review.app, name="review")
app.add_typer(allocation.app, name="allocation")
app.add_typer(factory.app, name="factory")
app.command("gpu-specs")(factory.gpu_specs)
app.add_typer(job.app, name="job")
app.command("usage")(job.usage)
app.command("worker")(job.worker)
app.add_typer(cutoff.app, name="cutoff")
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")
app.add_typer(user_module.app, name="user")
app.add_typer(admin.app, name="admin")
app.add_typer(act.app, name="act")
app.add_typer(observatory.app, name="observatory")
app.add_typer(data.app, name="data")
app.add_typer(admin.db_app, name="db")
app.command("eligibility")(policy.eligibility)
app.command("whoami")(user_module.whoami)
app.command("serve")(serve_module.serve)
app.command("demo")(demo.demo)
app.command("refer")(refer_module.refer)
app.command("simulate")(simulate.simulate)


def main() -> None:
    app(prog_name="fabriek")
