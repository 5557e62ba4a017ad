"""`fabriek whoami` and `fabriek user`: people and API tokens, through the API."""

from __future__ import annotations

from typing import Annotated

import typer

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.options import JsonOpt
from fabriek.identity.enums import Role
from fabriek.identity.schemas import TokenCreated, UserRead

app = typer.Typer(help="People and API tokens (access officers).", no_args_is_help=True)


def _render_user(user: UserRead) -> None:
    out.show(out.fields(f"User {user.id}", [
        ("E-mail", user.email), ("Name", user.display_name),
        ("Roles", [r.value for r in user.roles]),
        ("Organisations", [f"{org} ({role.value})" for org, role in user.memberships.items()]),
    ]))


def _render_token(created: TokenCreated) -> None:
    out.success(f"token for {created.user.email} (user {created.user.id})")
    typer.echo(created.token)  # plain echo: Rich would wrap or style the token
    out.note("Shown once: only its hash is stored. Use it as FABRIEK_TOKEN or --token.")


def whoami(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Who the token belongs to: e-mail, roles and organisations.

    Example: fabriek whoami
    """
    out.emit(client(ctx).me(), json, _render_user)


@app.command()
def create(
    ctx: typer.Context,
    email: Annotated[str, typer.Option("--email")],
    role: Annotated[list[Role] | None, typer.Option(
        "--role", help="A global role (repeatable); default applicant.")] = None,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    json: JsonOpt = False,
) -> None:
    """Access officers: create a person with roles.

    Example: fabriek user create --email rev@uni.eu --role reviewer --name "R. Janssen"
    """
    user = client(ctx).create_user(email, display_name=name,
                                   roles=[r.value for r in role or []])
    out.emit(user, json, _render_user)


@app.command()
def token(ctx: typer.Context,
          user_id: Annotated[int, typer.Argument(help="User id; your own, unless an officer.")],
          json: JsonOpt = False) -> None:
    """Issue a new API token (shown once).

    Example: fabriek user token 12
    """
    out.emit(client(ctx).create_token(user_id), json, _render_token)
