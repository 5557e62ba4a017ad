"""The pure self-assessment engine: answers in, the outcome and the path that led there out.

No I/O: the tree is handed in, so the same function serves the API, the CLI (step by step,
through `next_question`) and the tests. Answers map a question id to an option id, or to a list
of option ids for a multiple-choice question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from fabriek.compliance.act_text import LANGS, Lang
from fabriek.compliance.tree import END, Option, Question, Tree
from fabriek.errors import ValidationFailed

Answers = Mapping[str, Any]
PROHIBITED = "prohibited"


class AnswerError(ValidationFailed):
    """An answer the tree cannot take; `question` names the question it is about."""

    def __init__(self, detail: str, *, question: str | None = None) -> None:
        super().__init__(detail, question=question)
        self.question = question


class Cited(BaseModel):
    text: str
    cites: list[str]


class ChosenOption(BaseModel):
    id: str
    text: str
    cites: list[str]


class Step(BaseModel):
    """One question on the path and the answer given to it."""

    question: str
    text: str
    cites: list[str]
    answers: list[ChosenOption]


class CategoryOut(BaseModel):
    id: str
    label: str
    summary: str
    cites: list[str]
    notable: bool


class ObligationOut(BaseModel):
    id: str
    text: str
    cites: list[str]
    applies_from: str        # ISO date
    date_basis: str          # the citation setting the date, e.g. "Article 113(a)"


class Practice(BaseModel):
    """A prohibited practice the answers disclosed, with the article point forbidding it."""

    citation: str
    text: str


class Outcome(BaseModel):
    tree_version: str
    lang: Lang
    role: str | None
    role_label: str | None
    categories: list[CategoryOut]
    obligations: list[ObligationOut]
    advice: list[Cited]
    prohibited_practices: list[Practice]
    flags: list[str]
    path: list[Step]
    disclaimer: str

    @property
    def category_ids(self) -> list[str]:
        return [c.id for c in self.categories]


@dataclass(frozen=True)
class _Walk:
    steps: list[tuple[Question, list[Option]]]
    pending: Question | None  # the first question on the path without an answer


def _chosen(q: Question, raw: Any) -> list[Option]:
    values = raw if isinstance(raw, list | tuple) else [raw]
    if not q.multiple and len(values) != 1:
        raise AnswerError(f"question {q.id!r} takes one answer; got {len(values)}",
                          question=q.id)
    if not values:
        raise AnswerError(f"question {q.id!r}: choose at least one option", question=q.id)
    chosen: list[Option] = []
    for value in values:
        option = q.option(value) if isinstance(value, str) else None
        if option is None:
            known = ", ".join(o.id for o in q.options)
            raise AnswerError(f"question {q.id!r}: {value!r} is not one of its options "
                              f"({known})", question=q.id)
        if option not in chosen:
            chosen.append(option)
    if len(chosen) > 1 and any(o.exclusive for o in chosen):
        none = next(o.id for o in chosen if o.exclusive)
        raise AnswerError(f"question {q.id!r}: {none!r} cannot be combined with other answers",
                          question=q.id)
    return [o for o in q.options if o in chosen]  # the tree's order, whatever the input's


def _walk(tree: Tree, answers: Answers) -> _Walk:
    if not isinstance(answers, Mapping):
        raise AnswerError("answers must be a mapping of question id to option id(s)")
    data = tree.data
    unknown = [k for k in answers if not isinstance(k, str) or data.question(k) is None]
    if unknown:
        raise AnswerError(f"no such question: {unknown[0]!r}", question=str(unknown[0]))
    steps: list[tuple[Question, list[Option]]] = []
    qid: str | None = data.start
    pending = None
    while qid is not None and qid != END:
        q = data.question(qid)
        assert q is not None  # the tree was validated at load
        if q.id not in answers:
            pending = q
            break
        chosen = _chosen(q, answers[q.id])
        steps.append((q, chosen))
        qid = next((o.next for o in chosen if o.next), None) or q.next
    on_path = {q.id for q, _ in steps}
    off_path = [k for k in answers if k not in on_path]
    if off_path and pending is None:
        raise AnswerError(f"question {off_path[0]!r} is not on the path these answers take; "
                          "remove its answer", question=off_path[0])
    return _Walk(steps, pending)


def next_question(tree: Tree, answers: Answers) -> Question | None:
    """The next question to ask given the answers so far, or None when the path is complete."""
    return _walk(tree, answers).pending


def _flags(tree: Tree, steps: list[tuple[Question, list[Option]]]) -> tuple[frozenset[str],
                                                                         str | None]:
    flags: set[str] = set()
    role: str | None = None
    for _, chosen in steps:
        for option in chosen:
            flags.update(option.flags)
            role = option.role or role
    if role is not None:
        flags.add(f"role:{role}")
    for rule in tree.data.derive:  # in order: a rule may read what an earlier one derived
        if rule.when.holds(frozenset(flags)):
            flags.add(rule.flag)
    return frozenset(flags), role


def assess(tree: Tree, answers: Answers, lang: Lang = "en") -> Outcome:
    """The outcome of a complete set of answers. Raises AnswerError naming the question."""
    if lang not in LANGS:
        raise AnswerError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    walk = _walk(tree, answers)
    if walk.pending is not None:
        raise AnswerError(f"question {walk.pending.id!r} needs an answer: "
                          f"{walk.pending.text(lang)}", question=walk.pending.id)
    data = tree.data
    flags, role = _flags(tree, walk.steps)
    obligations = []
    for ob in data.obligations:
        if (ob.roles and role not in ob.roles) or not ob.when.holds(flags):
            continue
        rule = next((r for r in ob.applies_from if r.when.holds(flags)), None)
        if rule is None:
            continue
        when = tree.dates.get(rule.date)
        assert when is not None  # checked at load
        obligations.append(ObligationOut(id=ob.id, text=ob.text(lang), cites=list(ob.cites),
                                         applies_from=when.date.isoformat(),
                                         date_basis=when.basis))
    practices = [Practice(citation=o.cites[0], text=o.text(lang))
                 for _, chosen in walk.steps for o in chosen
                 if PROHIBITED in o.flags and o.cites]
    return Outcome(
        tree_version=tree.version, lang=lang, role=role,
        role_label=data.role(role).label(lang) if role else None,
        categories=[CategoryOut(id=c.id, label=c.label(lang), summary=c.summary(lang),
                                cites=list(c.cites), notable=c.notable)
                    for c in data.categories if c.id in flags],
        obligations=obligations,
        advice=[Cited(text=a.text(lang), cites=list(a.cites)) for a in data.advice
                if a.when.holds(flags)],
        prohibited_practices=practices,
        flags=sorted(flags),
        path=[Step(question=q.id, text=q.text(lang), cites=list(q.cites),
                   answers=[ChosenOption(id=o.id, text=o.text(lang), cites=list(o.cites))
                            for o in chosen]) for q, chosen in walk.steps],
        disclaimer=data.disclaimer(lang),
    )
