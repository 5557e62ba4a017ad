"""`fabriek refer PROPOSAL`: the AI Factories ranked for a proposal, every score explained."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.options import JsonOpt
from fabriek.federation.referral_schemas import ReferralRead


def _render(r: ReferralRead) -> None:
    out.show(out.fields(f"Referral for proposal {r.proposal_id}", [
        ("GPU-hours", f"{r.gpu_hours:,.0f}"), ("Window", f"{r.start_on} to {r.end_on}"),
        ("Applicant country", r.country), ("Sector", r.sector or "—"),
        ("Languages", ", ".join(r.languages) or "—"),
        ("Datasets", ", ".join(r.datasets) or "—"),
        ("Weights", f"referral.yaml {r.policy_version}"),
    ]))
    ranked = Table(title="Ranking (score = sum of the points)", show_lines=True)
    for column in ("#", "factory", "partition", "score", "terms: points — why"):
        ranked.add_column(column)
    for item in r.rankings:
        if not item.eligible:
            continue
        terms = "\n".join(f"{t.name}: {t.points:g}/{t.weight:g} — {t.explanation}"
                          for t in item.terms)
        ranked.add_row(str(item.rank), f"{item.factory_name}\n({item.factory})",
                       item.partition or "—", f"{item.score:g}", terms)
    out.show(ranked)
    excluded = [i for i in r.rankings if not i.eligible]
    if excluded:
        out.show(out.table("Excluded", ["factory", "why"],
                           [(i.factory, "; ".join(i.excluded_because)) for i in excluded]))


def refer(ctx: typer.Context,
          proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
          json: JsonOpt = False) -> None:
    """Rank the AI Factories for a proposal and explain each score.

    Terms: free capacity in the window, sector focus, data lab co-location, hardware fit, the
    antenna linking the applicant's country, languages. Weights: policy/referral.yaml.

    Example: fabriek refer 7
    """
    out.emit(client(ctx).proposals.referral(proposal_id), json, _render)
