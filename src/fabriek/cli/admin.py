"""Operator commands, run in-process on the server host (no API): `fabriek db`, `fabriek admin`.

They open the database named by FABRIEK_DATA_DIR / FABRIEK_DATABASE_URL and act as the SYSTEM
principal, which is how the first access officer comes to exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from fabriek.cli import output as out
from fabriek.cli.context import cli_context
from fabriek.cli.options import JsonOpt
from fabriek.identity.enums import Role

if TYPE_CHECKING:
    from fabriek.cli.inprocess import IssuedToken

db_app = typer.Typer(help="The database schema (operators, on the server host).",
                     no_args_is_help=True)
app = typer.Typer(help="Bootstrap people and tokens in-process (operators, on the server host).",
                  no_args_is_help=True)

EmailOpt = Annotated[str, typer.Option("--email", help="The person's e-mail.")]


@db_app.command()
def upgrade(ctx: typer.Context, revision: Annotated[str, typer.Option(
        "--revision", help="Target revision.")] = "head", json: JsonOpt = False) -> None:
    """Bring the database schema up to date (safe to repeat).

    Example: FABRIEK_DATA_DIR=/srv/fabriek fabriek db upgrade
    """
    from fabriek.cli import inprocess

    settings = cli_context(ctx).settings()
    before, after = inprocess.upgrade_schema(settings, revision)
    result = {"database": inprocess.safe_url(settings), "from": before, "to": after}
    out.emit(result, json, lambda r: out.success(
        f"schema of {r['database']} at {r['to']}"
        + (f" (was {r['from'] or 'empty'})" if r["from"] != r["to"] else " (already current)")))


def _print_token(result: IssuedToken) -> None:
    out.success(f"user {result['user_id']} {result['email']} "
                f"(roles: {', '.join(result['roles'])})")
    typer.echo(result["token"])  # plain echo: Rich would wrap or style the token
    out.note("This token is shown once and not stored (only its hash is). Use it as "
             "FABRIEK_TOKEN or --token.")


@app.command("create-user")
def create_user(
    ctx: typer.Context,
    email: EmailOpt,
    role: Annotated[list[Role] | None, typer.Option(
        "--role", help="A global role (repeatable), e.g. access-officer; default applicant.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    json: JsonOpt = False,
) -> None:
    """Create a person and an API token for them; the token is printed once.

    Upgrades the schema first if needed, so this can bootstrap a fresh installation.

    Example: fabriek admin create-user --email officer@eurohpc.eu --role access-officer
    """
    from fabriek.cli import inprocess

    [issued] = inprocess.create_users(cli_context(ctx).settings(), [(email, name, role or [])],
                                      token_name="cli bootstrap")
    out.emit(issued, json, _print_token)


@app.command("set-password")
def set_password(
    ctx: typer.Context, email: EmailOpt,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (for scripts).")]
    = False,
) -> None:
    """Set a person's password for signing in to the web portal (asked twice, not echoed).

    Example: fabriek admin set-password --email officer@eurohpc.eu
    """
    import sys

    from fabriek.cli import inprocess

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user_id = inprocess.set_password(cli_context(ctx).settings(), email, password)
    out.success(f"password set for user {user_id} {email}; sign in at /sign-in")


@app.command("create-token")
def create_token(ctx: typer.Context, email: EmailOpt, json: JsonOpt = False) -> None:
    """Issue a new API token for an existing person; printed once.

    Example: fabriek admin create-token --email officer@eurohpc.eu
    """
    from fabriek.cli import inprocess

    issued = inprocess.issue_token(cli_context(ctx).settings(), email, token_name="cli")
    out.emit(issued, json, _print_token)
