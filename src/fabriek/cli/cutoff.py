"""`fabriek cutoff`: release the proposals held for a passed cut-off into review."""

from __future__ import annotations

from typing import Annotated

import typer

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.options import JsonOpt

app = typer.Typer(help="Cut-offs of the peer-reviewed access modes.", no_args_is_help=True)


@app.command()
def release(ctx: typer.Context,
            mode: Annotated[str, typer.Argument(help="Access mode, e.g. large-scale.")],
            json: JsonOpt = False) -> None:
    """Access officers: open review for every proposal whose cut-off has passed. Safe to repeat.

    Example: fabriek cutoff release large-scale
    """
    result = client(ctx).release_cutoff(mode)
    out.emit(result, json, lambda r: out.success(
        f"{len(r.released)} proposal(s) of {r.mode} released into review"
        + (f": {', '.join(str(i) for i in r.released)}" if r.released else "")))
