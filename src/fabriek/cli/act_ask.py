"""`fabriek act ask "…"`: a question about the AI Act, answered with quoted, linked passages.

`ask` is registered by cli/act.py as `fabriek act ask`; `app` here runs it on its own (tests).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Group
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.errors import FabriekGroup
from fabriek.cli.options import JsonOpt
from fabriek.compliance.search.schemas import ActAnswer, Passage


def _passage(p: Passage) -> Group:
    heading = Text.assemble((f"{p.rank}. ", "bold"), (p.citation, "bold cyan"))
    if p.title:
        heading.append(f" — {p.title}")
    return Group(heading, Padding(Text(p.quote), (0, 0, 0, 3)),
                 Padding(Text(p.link, style="dim underline"), (0, 0, 1, 3)))


def render(answer: ActAnswer) -> None:
    out.note(f"{answer.language}; {answer.mode_note}")
    if not answer.results and not answer.recitals:
        out.show("Nothing in the AI Act matches these words; try other words or the "
                 "other language (--lang).")
    if answer.results:
        out.show(Text("Articles and annexes", style="bold underline"), "")
        out.show(*(_passage(p) for p in answer.results))
    if answer.recitals:
        out.show(Text("Recitals (explain the articles; not binding)", style="bold underline"),
                 "")
        out.show(*(_passage(p) for p in answer.recitals))
    out.note(escape(answer.disclaimer))


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="Your question in plain English or Dutch.")],
    lang: Annotated[str | None, typer.Option(
        "--lang", help="en or nl; detected from the question when left out.")] = None,
    limit: Annotated[int, typer.Option(
        "--limit", min=1, max=20, help="At most this many articles and annex points.")] = 5,
    json: JsonOpt = False,
) -> None:
    """Ask the AI Act: the best-matching articles, annex points and recitals, quoted and linked
    to EUR-Lex. Not legal advice.

    Example: fabriek act ask "Can I use emotion recognition on my employees?"
    """
    params = {"q": question, "limit": limit, **({"lang": lang} if lang else {})}
    answer = ActAnswer.model_validate(client(ctx).request("GET", "/act/ask", params=params))
    out.emit(answer, json, render)


app = typer.Typer(cls=FabriekGroup, help="Questions about the AI Act.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Questions about the AI Act (until `fabriek act` registers `ask`)."""


app.command("ask")(ask)
