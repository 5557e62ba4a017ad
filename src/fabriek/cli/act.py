"""`fabriek act`: the AI Act helpdesk. Self-assess a system or model (interactively or from an
answers file), attach the assessment to a proposal, and read a model's compute ledger."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.prompt import Prompt
from rich.table import Table

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.errors import InputProblem
from fabriek.cli.inputs import load_file
from fabriek.cli.options import JsonOpt
from fabriek.compliance.schemas import AssessmentRead, LedgerRead, ProposalSelfAssessment
from fabriek.compliance.tree import ActDates, Question, Tree, TreeData
from fabriek.compliance.tree_engine import next_question

app = typer.Typer(help="AI Act helpdesk: self-assessment, the proposal gate, compute ledger.",
                  no_args_is_help=True)

# `fabriek act ask` (cited answers from the Act's text) is written beside this module as
# fabriek.cli.act_ask.ask; registered here once that module is present (after the merge).
if find_spec("fabriek.cli.act_ask") is not None:
    from fabriek.cli.act_ask import ask  # type: ignore[import-not-found, unused-ignore]

    app.command("ask")(ask)

LangOpt = Annotated[str, typer.Option("--lang", help="Language of questions and outcome: en "
                                      "or nl.", case_sensitive=False)]
OrgOpt = Annotated[int, typer.Option("--org", help="Your organisation the assessment is for.")]


def _tree(ctx: typer.Context) -> Tree:
    raw = client(ctx).request("GET", "/act/tree")
    dates = ActDates(version=raw.pop("dates_version"), dates=raw.pop("dates"))
    return Tree(data=TreeData.model_validate(raw), dates=dates)


def _ask(question: Question, lang: str) -> str | list[str]:
    """One question on the terminal: numbered options; several numbers for multiple choice."""
    out.show(f"\n[bold]{escape(question.text(lang))}[/]  [dim]({', '.join(question.cites)})[/]")
    if question.help:
        out.show(f"[dim]{escape(question.help(lang))}[/]")
    for n, option in enumerate(question.options, 1):
        out.show(f"  {n}. {escape(option.text(lang))}")
    hint = {"en": "numbers, separated by commas", "nl": "nummers, gescheiden door komma's"}
    prompt = hint[lang] if question.multiple else {"en": "number", "nl": "nummer"}[lang]
    while True:
        raw = Prompt.ask(prompt)
        try:
            picks = [int(p) for p in raw.replace(" ", "").split(",") if p]
        except ValueError:
            picks = []
        if picks and all(1 <= p <= len(question.options) for p in picks) and (
                question.multiple or len(picks) == 1):
            ids = [question.options[p - 1].id for p in picks]
            return ids if question.multiple else ids[0]
        out.error(f"answer with {'one or more numbers' if question.multiple else 'one number'} "
                  f"from 1 to {len(question.options)}")


def _answers_from(path: Path) -> dict[str, Any]:
    data = load_file(path)
    answers = data.get("answers", data)  # a bare mapping, or a case file with `answers:`
    if not isinstance(answers, dict) or not answers:
        raise InputProblem(f"{path} must map question ids to option ids",
                           "`fabriek act assess` without --answers asks them one by one")
    return answers


_WORDS = {
    "en": {"title": "Self-assessment", "role": "role", "obligations": "Obligations",
           "from": "From", "obligation": "Obligation", "articles": "Articles",
           "basis": "Basis of date", "why": "Why: the answers that led here",
           "question": "Question", "answer": "Answer"},
    "nl": {"title": "Zelfbeoordeling", "role": "rol", "obligations": "Verplichtingen",
           "from": "Vanaf", "obligation": "Verplichting", "articles": "Artikelen",
           "basis": "Grondslag datum", "why": "Waarom: de antwoorden die hiertoe leidden",
           "question": "Vraag", "answer": "Antwoord"},
}


def _outcome(item: AssessmentRead) -> None:
    o = item.outcome
    w = _WORDS[o.lang]
    out.show(f"[bold]{w['title']} {item.id}[/] (tree {o.tree_version}, {o.lang}) — "
             f"{w['role']}: {escape(o.role_label or '—')}")
    for c in o.categories:
        style = "bold red" if c.id == "prohibited" else ("bold yellow" if c.notable else "green")
        out.show(f"[{style}]{escape(c.label)}[/] — {escape(c.summary)} "
                 f"[dim]({', '.join(c.cites)})[/]")
    for p in o.prohibited_practices:
        out.show(f"[red]✗ {p.citation}: {escape(p.text)}[/]")
    if o.obligations:
        table = Table(title=w["obligations"], show_lines=False)
        for column in (w["from"], w["obligation"], w["articles"], w["basis"]):
            table.add_column(column)
        for ob in o.obligations:
            table.add_row(ob.applies_from, escape(ob.text), ", ".join(ob.cites), ob.date_basis)
        out.show(table)
    for a in o.advice:
        out.show(f"[cyan]→[/] {escape(a.text)} [dim]({', '.join(a.cites)})[/]")
    path = Table(title=w["why"])
    path.add_column(w["question"])
    path.add_column(w["answer"])
    for step in o.path:
        path.add_row(escape(step.text), escape("; ".join(a.text for a in step.answers)))
    out.show(path)
    out.note(o.disclaimer)


@app.command()
def assess(
    ctx: typer.Context,
    org: OrgOpt,
    answers: Annotated[Path | None, typer.Option(
        "--answers", "-a", exists=True, dir_okay=False, readable=True,
        help="YAML or JSON: question id → option id (a list for multiple choice).")] = None,
    lang: LangOpt = "en",
    attach: Annotated[int | None, typer.Option(
        "--attach", help="Attach the assessment to this draft proposal.")] = None,
    json: JsonOpt = False,
) -> None:
    """Self-assess an AI system or general-purpose AI model under the AI Act.

    Asks the questions one by one, or takes them from --answers. The outcome (categories,
    obligations for your role with their articles and dates, and why) is stored for the
    organisation.

    Example: fabriek act assess --org 1 --lang nl
             fabriek act assess --org 1 --answers answers.yaml --attach 7
    """
    lang = lang.lower()
    if lang not in ("en", "nl"):
        raise typer.BadParameter("use en or nl", param_hint="--lang")
    if answers is not None:
        given = _answers_from(answers)
    else:
        tree = _tree(ctx)
        given = {}
        while (question := next_question(tree, given)) is not None:
            given[question.id] = _ask(question, lang)
    c = client(ctx)
    item = AssessmentRead.model_validate(c.request(
        "POST", "/act/assessments", json={"organisation_id": org, "lang": lang,
                                         "answers": given}))
    if attach is not None:
        c.request("PUT", f"/proposals/{attach}/self-assessment",
                  json={"assessment_id": item.id})
    out.emit(item, json, _outcome)
    if attach is not None and not json:
        out.success(f"attached to proposal {attach}")


@app.command()
def show(ctx: typer.Context, assessment_id: Annotated[int, typer.Argument()],
         json: JsonOpt = False) -> None:
    """A stored self-assessment: outcome, obligations and the path.

    Example: fabriek act show 3
    """
    out.emit(AssessmentRead.model_validate(client(ctx).request(
        "GET", f"/act/assessments/{assessment_id}")), json, _outcome)


def _proposal_view(item: ProposalSelfAssessment) -> None:
    out.show(f"[bold]Proposal {item.proposal_id}[/] carries self-assessment "
             f"{item.assessment_id} (role: {escape(item.role or '—')}): "
             f"{', '.join(item.categories)}")
    for label in item.notable:
        out.show(f"[bold yellow]! {escape(label)}[/]")
    for ob in item.obligations:
        out.show(f"  • {ob.applies_from}  {escape(ob.text)} [dim]({', '.join(ob.cites)})[/]")
    for a in item.advice:
        out.show(f"[cyan]→[/] {escape(a.text)} [dim]({', '.join(a.cites)})[/]")


@app.command()
def attach(ctx: typer.Context, proposal_id: Annotated[int, typer.Argument()],
           assessment_id: Annotated[int, typer.Argument()], json: JsonOpt = False) -> None:
    """Attach a self-assessment of your organisation to a draft proposal.

    Example: fabriek act attach 7 3
    """
    out.emit(ProposalSelfAssessment.model_validate(client(ctx).request(
        "PUT", f"/proposals/{proposal_id}/self-assessment",
        json={"assessment_id": assessment_id})), json, _proposal_view)


@app.command("proposal")
def proposal_(ctx: typer.Context, proposal_id: Annotated[int, typer.Argument()],
              json: JsonOpt = False) -> None:
    """A proposal's self-assessment as reviewers see it (obligations, sandboxes).

    Example: fabriek act proposal 7
    """
    out.emit(ProposalSelfAssessment.model_validate(client(ctx).request(
        "GET", f"/proposals/{proposal_id}/self-assessment")), json, _proposal_view)


def _ledger_view(item: LedgerRead) -> None:
    util = f", utilisation {item.utilisation:.0%}" if item.utilisation is not None else ""
    out.show(f"[bold]{escape(item.model)}[/] (organisation {item.organisation_id}): "
             f"[bold]{item.flop:.3g} FLOP[/] on basis {item.basis.value}{util}, from "
             f"{item.gpu_hours:,.2f} GPU-hours in {item.jobs} job(s)")
    if item.gpu_hours_unpriced:
        out.show(f"[yellow]{item.gpu_hours_unpriced:,.2f} GPU-hours ran on GPUs of unknown "
                 "peak and are not counted[/]")
    table = Table()
    for column in ("Threshold", "Reached", "Meaning"):
        table.add_column(column)
    for t in item.thresholds:
        table.add_row(f"10^{t.exponent}", out.yes_no(t.reached), escape(t.meaning))
    out.show(table)
    if item.worst_case_flop_active:
        out.show(f"Queued and running jobs may add up to {item.worst_case_flop_active:.3g} "
                 "FLOP" + (f": over {', '.join(item.projected)}" if item.projected else ""))
    for w in item.warnings:
        out.show(f"[bold yellow]! {w.created_at:%Y-%m-%d}: {escape(w.message)}[/]")


@app.command()
def ledger(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name the jobs were tagged with.")],
    org: Annotated[int | None, typer.Option("--org", help="Organisation (if several).")]
    = None,
    utilisation: Annotated[float | None, typer.Option(
        "--set-utilisation", min=0.0, max=1.0, help="Set your measured utilisation (0-1].")]
    = None,
    reported_flop: Annotated[float | None, typer.Option(
        "--report-flop", min=0.0, help="Report the training FLOP yourself.")] = None,
    estimate: Annotated[bool, typer.Option(
        "--estimate", help="Back to the default 40 % utilisation estimate.")] = False,
    json: JsonOpt = False,
) -> None:
    """A model's training compute on the platform against 10^23 and 10^25 FLOP.

    Example: fabriek act ledger case-law-7b
             fabriek act ledger case-law-7b --set-utilisation 0.52
    """
    c = client(ctx)
    chosen = [x for x in (utilisation is not None, reported_flop is not None, estimate) if x]
    if len(chosen) > 1:
        raise typer.BadParameter("give one of --set-utilisation, --report-flop, --estimate")
    if chosen:
        basis = ("measured-utilisation" if utilisation is not None
                 else "reported" if reported_flop is not None else "estimate")
        body: dict[str, Any] = {"organisation_id": org, "basis": basis}
        if utilisation is not None:
            body["utilisation"] = utilisation
        if reported_flop is not None:
            body["reported_flop"] = reported_flop
        raw = c.request("PUT", f"/act/ledger/{model}/basis", json=body)
    else:
        raw = c.request("GET", f"/act/ledger/{model}",
                        params={"organisation_id": org} if org is not None else None)
    out.emit(LedgerRead.model_validate(raw), json, _ledger_view)
