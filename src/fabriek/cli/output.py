"""All printing goes through here: Rich tables for people, `--json` for scripts, errors on stderr.

Consoles are built per call so they write to whatever sys.stdout is now (CliRunner swaps it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

T = TypeVar("T")

STATE_STYLES = {
    "accepted": "bold green", "accepted-reduced": "green", "active": "green",
    "scheduled": "cyan", "submitted": "cyan", "in-review": "yellow", "appealed": "yellow",
    "draft": "dim", "assigned": "yellow", "rejected": "bold red", "withdrawn": "dim",
    "revoked": "red", "ended": "dim", "conflict": "magenta",
}


def stdout() -> Console:
    return Console(highlight=False)


def stderr() -> Console:
    # soft_wrap: an error stays one line however narrow the terminal, so it can be grepped.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(to_jsonable_python(value), indent=2, ensure_ascii=False))


def emit(value: T, as_json: bool, render: Callable[[T], None]) -> None:
    """Print `value` as JSON for scripts, or through `render` for people."""
    if as_json:
        print_json(value)
    else:
        render(value)


def show(*renderables: RenderableType) -> None:
    stdout().print(*renderables)


def success(message: str) -> None:
    stdout().print(f"[green]✓[/] {message}")


def note(message: str) -> None:
    stdout().print(f"[dim]{message}[/]")


def error(message: str, hint: str | None = None) -> None:
    """One red line saying what went wrong, then one line naming what to do next."""
    console = stderr()
    console.print(Text.assemble(("Error: ", "bold red"), (" ".join(message.split()), "red")))
    if hint:
        console.print(Text.assemble(("Hint: ", "dim"), hint))


def state(value: object) -> Text:
    text = str(value) if value is not None else "—"
    return Text(text, style=STATE_STYLES.get(text, ""))


def yes_no(value: bool) -> Text:
    return Text("yes", style="green") if value else Text("no", style="red")


def fmt(value: object) -> str:
    """A cell value as people read it: thousands separators, dashes for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def fields(title: str | None, pairs: Iterable[tuple[str, object]]) -> Table:
    """A two-column table of labelled values."""
    table = Table(title=title, show_header=False, title_justify="left", box=None,
                  padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in pairs:
        table.add_row(label, value if isinstance(value, Text) else escape(fmt(value)))
    return table


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]],
          *, nowrap: Iterable[str] = ("id", "seq")) -> Table:
    """A table; the `nowrap` columns (ids, dates) never break, the others fold."""
    keep = set(nowrap)
    t = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold", no_wrap=column in keep)
    for row in rows:
        t.add_row(*(v if isinstance(v, Text) else escape(fmt(v)) for v in row))
    return t


def bar(used: float, total: float, width: int = 30) -> Text:
    """A usage bar: filled for what is used, with the share printed after it."""
    share = 0.0 if total <= 0 else min(max(used / total, 0.0), 1.0)
    filled = round(share * width)
    style = "red" if share >= 0.9 else "yellow" if share >= 0.7 else "green"
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "dim"),
                         f" {share:.0%} used")
