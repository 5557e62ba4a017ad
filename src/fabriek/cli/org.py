"""`fabriek org`: register organisations, vouch for their facts, manage members."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import typer

from fabriek.cli import output as out
from fabriek.cli import views
from fabriek.cli.context import client
from fabriek.cli.errors import UsageProblem
from fabriek.cli.options import (
    DATE_FORMATS,
    AllOpt,
    IdempotencyKeyOpt,
    JsonOpt,
    LimitOpt,
    parse_decimal,
)
from fabriek.identity.enums import MembershipRole, OrganisationKind

app = typer.Typer(help="Organisations: register, vouch for facts, members.", no_args_is_help=True)

OrgArg = Annotated[int, typer.Argument(help="Organisation id (`fabriek org list`).")]
FoundedOpt = Annotated[datetime | None, typer.Option(
    "--founded-on", formats=DATE_FORMATS, help="Founding date, YYYY-MM-DD.")]
HeadcountOpt = Annotated[int | None, typer.Option(
    "--headcount", min=0, help="Staff in annual work units (Rec. 2003/361).")]
TurnoverOpt = Annotated[Decimal | None, typer.Option(
    "--turnover-eur", parser=parse_decimal, metavar="EUR", help="Annual turnover in euro.")]
BalanceOpt = Annotated[Decimal | None, typer.Option(
    "--balance-sheet-eur", parser=parse_decimal, metavar="EUR",
    help="Balance-sheet total in euro.")]
VatOpt = Annotated[str | None, typer.Option("--vat-id", help="VAT number.")]


def _set(**values: object) -> dict[str, object]:
    return {k: (v.date() if isinstance(v, datetime) else v) for k, v in values.items()
            if v is not None}


@app.command()
def register(
    ctx: typer.Context,
    legal_name: Annotated[str, typer.Option("--legal-name", help="Registered legal name.")],
    country: Annotated[str, typer.Option(
        "--country", help="ISO 3166-1 alpha-2 code of the country of establishment.")],
    registration_id: Annotated[str, typer.Option(
        "--registration-id", help="Company register or chamber of commerce number.")],
    kind: Annotated[OrganisationKind, typer.Option("--kind", help="What the organisation is.")],
    vat_id: VatOpt = None,
    founded_on: FoundedOpt = None,
    headcount: HeadcountOpt = None,
    turnover_eur: TurnoverOpt = None,
    balance_sheet_eur: BalanceOpt = None,
    public_control: Annotated[bool, typer.Option(
        "--public-control", help="25 % or more held by public bodies.")] = False,
    vouch: Annotated[bool, typer.Option(
        "--vouch", help="Vouch now that these facts are true (you become its admin).")] = False,
    idempotency_key: IdempotencyKeyOpt = None,
    json: JsonOpt = False,
) -> None:
    """Register an organisation; you become its admin.

    Example:

        fabriek org register --legal-name "Tulip AI B.V." --country NL \\
            --registration-id 81234567 --kind enterprise --founded-on 2023-05-01 \\
            --headcount 12 --turnover-eur 1200000 --vouch
    """
    body = _set(legal_name=legal_name, country=country, registration_id=registration_id,
                kind=kind.value, vat_id=vat_id, founded_on=founded_on, headcount=headcount,
                turnover_eur=turnover_eur, balance_sheet_eur=balance_sheet_eur,
                public_control=public_control)
    org = client(ctx).organisations.register(body, vouch=vouch, idempotency_key=idempotency_key)
    out.emit(org, json, views.organisation)
    if not json and org.vouched_at is None:
        out.note(f"Next: `fabriek org vouch {org.id}` once the facts are checked.")


@app.command("list")
def list_(ctx: typer.Context, limit: LimitOpt = 50, all: AllOpt = False,
          json: JsonOpt = False) -> None:
    """Organisations you belong to (access officers: all).

    Example: fabriek org list --json
    """
    out.emit(client(ctx).organisations.list(limit=limit, all=all), json, views.organisations)


@app.command()
def show(ctx: typer.Context, organisation_id: OrgArg, json: JsonOpt = False) -> None:
    """Facts, size class and categories with their reasons, and eligibility.

    Example: fabriek org show 1
    """
    out.emit(client(ctx).organisations.get(organisation_id), json, views.organisation)


@app.command()
def update(
    ctx: typer.Context,
    organisation_id: OrgArg,
    legal_name: Annotated[str | None, typer.Option("--legal-name")] = None,
    vat_id: VatOpt = None,
    founded_on: FoundedOpt = None,
    headcount: HeadcountOpt = None,
    turnover_eur: TurnoverOpt = None,
    balance_sheet_eur: BalanceOpt = None,
    public_control: Annotated[bool | None, typer.Option(
        "--public-control/--no-public-control")] = None,
    json: JsonOpt = False,
) -> None:
    """Change facts; an admin must vouch again afterwards.

    Example: fabriek org update 1 --headcount 14 --turnover-eur 1500000
    """
    body = _set(legal_name=legal_name, vat_id=vat_id, founded_on=founded_on,
                headcount=headcount, turnover_eur=turnover_eur,
                balance_sheet_eur=balance_sheet_eur, public_control=public_control)
    if not body:
        raise UsageProblem("nothing to change", "give at least one option; "
                           "`fabriek org update --help`")
    org = client(ctx).organisations.update(organisation_id, body)
    out.emit(org, json, views.organisation)
    if not json:
        out.note(f"Facts changed: vouch again with `fabriek org vouch {org.id}`.")


@app.command()
def vouch(ctx: typer.Context, organisation_id: OrgArg, json: JsonOpt = False) -> None:
    """As an admin, vouch that the organisation's facts (country, type, size) are true.

    Example: fabriek org vouch 1
    """
    out.emit(client(ctx).organisations.vouch(organisation_id), json, views.organisation)


@app.command()
def members(ctx: typer.Context, organisation_id: OrgArg, json: JsonOpt = False) -> None:
    """Members of an organisation and their role.

    Example: fabriek org members 1
    """
    rows = client(ctx).organisations.members(organisation_id)
    out.emit(rows, json, lambda ms: out.show(out.table(
        f"Members of organisation {organisation_id}", ["user id", "e-mail", "role"],
        [(m.user_id, m.email, m.role.value) for m in ms])))


@app.command("add-member")
def add_member(
    ctx: typer.Context,
    organisation_id: OrgArg,
    email: Annotated[str, typer.Option("--email", help="E-mail of a registered person.")],
    role: Annotated[MembershipRole, typer.Option("--role")] = MembershipRole.member,
    json: JsonOpt = False,
) -> None:
    """Add a registered person to the organisation (admins only).

    Example: fabriek org add-member 1 --email ana@tulip.ai --role member
    """
    m = client(ctx).organisations.add_member(organisation_id, email, role.value)
    out.emit(m, json, lambda m: out.success(
        f"{m.email} (user {m.user_id}) is now {m.role.value} of organisation {organisation_id}"))
