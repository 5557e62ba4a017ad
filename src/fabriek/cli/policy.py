"""`fabriek policy modes` and `fabriek eligibility`: the policy data in force (public)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fabriek.cli import output as out
from fabriek.cli import views
from fabriek.cli.context import client
from fabriek.cli.options import JsonOpt

app = typer.Typer(help="The access policy in force.", no_args_is_help=True)


def _hours(mode: dict[str, Any]) -> str:
    low, high = mode.get("gpu_hours_min") or 1, mode.get("gpu_hours_max")
    return f"{low:,}–{high:,}" if high else f"≥ {low:,}"


def _decision(mode: dict[str, Any]) -> str:
    procedure, target = mode["procedure"], mode["target_decision"]
    reviews = ", ".join(f"{r['count']} {r['kind']}" for r in procedure.get("reviews", []))
    when = f"{target['amount']} {target['unit']}"
    if target.get("counted_from") == "cutoff":
        when += " after cut-off"
    return f"{procedure['kind']}{f' ({reviews})' if reviews else ''}; {when}"


def _render_modes(policy: dict[str, Any]) -> None:
    out.show(out.table(
        f"Access modes (policy {policy.get('version', '?')})",
        ["id", "who may apply", "GPU-hours", "months", "decision", "priority"],
        [(m["id"], m["who_may_apply"], _hours(m), m["durations_months"], _decision(m),
          m["priority_class"]) for m in policy.get("modes", [])],
        nowrap=("id", "GPU-hours", "priority")))


@app.command()
def modes(ctx: typer.Context, json: JsonOpt = False) -> None:
    """The access modes: who may apply, caps, durations, how and how fast they are decided.

    Example: fabriek policy modes
    """
    out.emit(client(ctx).access_modes(), json, _render_modes)


def eligibility(ctx: typer.Context,
                country: Annotated[str, typer.Argument(help="ISO 3166-1 alpha-2 code, e.g. NL.")],
                json: JsonOpt = False) -> None:
    """Is an organisation established in COUNTRY eligible for AI Factories access?

    Example: fabriek eligibility NO
    """
    out.emit(client(ctx).eligibility(country), json,
             lambda e: out.show(views.eligibility_line(e)))
