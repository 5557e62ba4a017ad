"""`fabriek review`: a reviewer's assignments, conflicts of interest and scores."""

from __future__ import annotations

from typing import Annotated

import typer

from fabriek.cli import inputs, views
from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.options import JsonOpt, ReasonOpt

app = typer.Typer(help="Reviews: your assignments, conflicts, scores.", no_args_is_help=True)

ReviewArg = Annotated[int, typer.Argument(help="Review id (`fabriek review list`).")]


@app.command("list")
def list_(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Your review assignments (declared conflicts are left out).

    Example: fabriek review list
    """
    out.emit(client(ctx).reviews.mine(), json,
             lambda rows: views.reviews(rows, "Your reviews") if rows
             else out.note("No review assignments."))


@app.command()
def conflict(ctx: typer.Context, review_id: ReviewArg, reason: ReasonOpt,
             json: JsonOpt = False) -> None:
    """Declare a conflict of interest; the proposal then disappears from your view.

    Example: fabriek review conflict 3 --reason "I advised the applicant in 2025"
    """
    review = client(ctx).reviews.declare_conflict(review_id, reason)
    out.emit(review, json, lambda r: out.success(
        f"conflict declared on review {r.id}; an access officer will reassign it"))


@app.command()
def submit(
    ctx: typer.Context,
    review_id: ReviewArg,
    score: Annotated[list[str], typer.Option(
        "--score", help="CRITERION=NUMBER, once per criterion of the review.")],
    comment: Annotated[str, typer.Option("--comment", help="Shown to the applicant.")] = "",
    private_comment: Annotated[str | None, typer.Option(
        "--private-comment", help="Only for access officers.")] = None,
    json: JsonOpt = False,
) -> None:
    """Score every criterion of the review; the server names any criterion missing.

    Example: fabriek review submit 3 --score technical-readiness=4 --score resources=3 \\
        --comment "Solid plan; reduce the checkpoint frequency"
    """
    review = client(ctx).reviews.submit(review_id, inputs.scores(score),
                                        comment_to_applicant=comment,
                                        private_comment=private_comment or "")
    out.emit(review, json, lambda r: out.success(
        f"review {r.id} submitted; weighted score {r.weighted_score:.2f}"
        if r.weighted_score is not None else f"review {r.id} submitted"))
