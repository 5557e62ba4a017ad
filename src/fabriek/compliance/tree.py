"""The AI Act self-assessment tree as versioned data: its schema, checks and loading.

The tree lives in fabriek/policy/ai-act-tree.yaml and the dates the obligations apply from in
ai-act-dates.yaml, so a legal change is an edit to data. Both are validated when loaded: every
`next` names a question or END, every flag a condition reads is set by an answer or derived,
every date an obligation uses is defined, and no question leads back to an earlier one, so
every path ends in an outcome. That the cited articles exist in the Act text is checked by
`missing_citations` (the tests run it on both languages).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fabriek.compliance.act_text import ActText, Lang
from fabriek.kit.policydata import PolicyFileError, read_policy

END = "END"
TREE_FILE, DATES_FILE = "ai-act-tree", "ai-act-dates"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """The same words in every language the tree speaks."""

    en: str = Field(min_length=1)
    nl: str = Field(min_length=1)

    def __call__(self, lang: Lang) -> str:
        return self.en if lang == "en" else self.nl


class Condition(_Strict):
    """True when all of `all`, at least one of `any` (if given) and none of `none` are set."""

    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()

    def holds(self, flags: frozenset[str]) -> bool:
        return (all(f in flags for f in self.all) and (not self.any or any(f in flags
                for f in self.any)) and not any(f in flags for f in self.none))

    def flags(self) -> set[str]:
        return {*self.all, *self.any, *self.none}


class Option(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    text: Text
    help: Text | None = None
    cites: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()   # set when chosen
    role: str | None = None       # the role from now on (Art. 25 changes it)
    next: str | None = None       # overrides the question's next
    exclusive: bool = False       # "none of these": cannot be combined


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    text: Text
    help: Text | None = None
    cites: tuple[str, ...] = Field(min_length=1)
    multiple: bool = False
    options: tuple[Option, ...] = Field(min_length=2)
    next: str | None = None

    @model_validator(mode="after")
    def _every_option_leads_somewhere(self) -> Question:
        ids = [o.id for o in self.options]
        if len(ids) != len(set(ids)):
            raise ValueError(f"question {self.id}: option ids repeat")
        lost = [o.id for o in self.options if o.next is None and self.next is None]
        if lost:
            raise ValueError(f"question {self.id}: options {lost} lead nowhere (no next)")
        return self

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


class Derivation(_Strict):
    flag: str
    when: Condition


class Category(_Strict):
    id: str
    label: Text
    summary: Text
    cites: tuple[str, ...] = Field(min_length=1)
    # Shown to reviewers beside the proposal (high-risk, systemic risk, prohibited).
    notable: bool = False


class DateRule(_Strict):
    date: str
    when: Condition = Condition()


class Obligation(_Strict):
    id: str
    roles: tuple[str, ...] = ()   # empty: whatever the role
    when: Condition
    text: Text
    cites: tuple[str, ...] = Field(min_length=1)
    applies_from: tuple[DateRule, ...] = Field(min_length=1)  # the first that holds


class Advice(_Strict):
    id: str
    when: Condition
    text: Text
    cites: tuple[str, ...] = Field(min_length=1)


class Role(_Strict):
    id: str
    label: Text
    cites: tuple[str, ...] = Field(min_length=1)


class ApplicationDate(_Strict):
    id: str
    date: date
    basis: str = Field(min_length=1)  # the citation that sets it, e.g. "Article 113(a)"
    text: Text


class ActDates(_Strict):
    version: str
    dates: tuple[ApplicationDate, ...] = Field(min_length=1)

    def get(self, date_id: str) -> ApplicationDate | None:
        return next((d for d in self.dates if d.id == date_id), None)


class TreeData(_Strict):
    version: str
    title: Text
    disclaimer: Text
    start: str
    roles: tuple[Role, ...]
    questions: tuple[Question, ...]
    derive: tuple[Derivation, ...] = ()
    categories: tuple[Category, ...]
    obligations: tuple[Obligation, ...]
    advice: tuple[Advice, ...] = ()

    @field_validator("questions")
    @classmethod
    def _unique(cls, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        ids = [q.id for q in questions]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"question ids repeat: {repeated}")
        return questions

    @model_validator(mode="after")
    def _references(self) -> TreeData:
        ids = {q.id for q in self.questions}
        problems = [] if self.start in ids else [f"start {self.start!r} is not a question"]
        roles = {r.id for r in self.roles}
        for q in self.questions:
            for target in {q.next, *(o.next for o in q.options)} - {None, END}:
                if target not in ids:
                    problems.append(f"question {q.id}: next {target!r} is not a question")
            problems += [f"question {q.id}, option {o.id}: unknown role {o.role!r}"
                         for o in q.options if o.role is not None and o.role not in roles]
        set_flags = {f for q in self.questions for o in q.options for f in o.flags}
        set_flags |= {d.flag for d in self.derive}
        read = [(f"derive {d.flag}", d.when.flags()) for d in self.derive]
        read += [(f"obligation {o.id}", o.when.flags() | {f for r in o.applies_from
                                                           for f in r.when.flags()})
                 for o in self.obligations]
        read += [(f"advice {a.id}", a.when.flags()) for a in self.advice]
        read += [(f"category {c.id}", {c.id}) for c in self.categories]
        for where, flags in read:
            problems += [f"{where}: flag {f!r} is never set" for f in sorted(flags - set_flags)]
        for o in self.obligations:
            problems += [f"obligation {o.id}: unknown role {r!r}" for r in o.roles
                         if r not in roles]
        if _has_cycle(self):
            problems.append("the questions form a cycle; every path must end in an outcome")
        unreachable = ids - set(_reachable(self))
        problems += [f"question {q} cannot be reached from {self.start}"
                     for q in sorted(unreachable)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def role(self, role_id: str) -> Role:
        return next(r for r in self.roles if r.id == role_id)

    def edges(self, q: Question) -> set[str]:
        return {o.next or q.next for o in q.options} - {None}  # type: ignore[misc]


def _reachable(tree: TreeData) -> Iterator[str]:
    seen, stack = set(), [tree.start]
    while stack:
        qid = stack.pop()
        if qid in seen or qid == END:
            continue
        seen.add(qid)
        yield qid
        q = tree.question(qid)
        if q is not None:
            stack.extend(tree.edges(q))


def _has_cycle(tree: TreeData) -> bool:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(qid: str) -> bool:
        if qid == END or state.get(qid) == 2:
            return False
        if state.get(qid) == 1:
            return True
        state[qid] = 1
        q = tree.question(qid)
        found = q is not None and any(visit(t) for t in tree.edges(q))
        state[qid] = 2
        return found

    return any(visit(q.id) for q in tree.questions)


class Tree(BaseModel):
    """The tree with the dates its obligations apply from; what the engine works on."""

    model_config = ConfigDict(frozen=True)

    data: TreeData
    dates: ActDates

    @model_validator(mode="after")
    def _dates_defined(self) -> Tree:
        known = {d.id for d in self.dates.dates}
        missing = sorted({r.date for o in self.data.obligations for r in o.applies_from}
                         - known)
        if missing:
            raise ValueError(f"obligations apply from unknown dates: {missing}")
        return self

    @property
    def version(self) -> str:
        return f"{self.data.version}+dates-{self.dates.version}"

    def citations(self) -> Iterator[tuple[str, str]]:
        """(where, citation) for every citation in the tree and the dates."""
        d = self.data
        for q in d.questions:
            yield from ((f"question {q.id}", c) for c in q.cites)
            for o in q.options:
                yield from ((f"question {q.id}, option {o.id}", c) for c in o.cites)
        for group, entries in (("role", d.roles), ("category", d.categories),
                               ("obligation", d.obligations), ("advice", d.advice)):
            for e in entries:
                yield from ((f"{group} {e.id}", c) for c in e.cites)
        yield from ((f"date {x.id}", x.basis) for x in self.dates.dates)


def missing_citations(tree: Tree, act: ActText) -> list[str]:
    """Every citation of the tree that the Act text in `act.lang` does not have."""
    return [f"{where}: {c}" for where, c in tree.citations() if not act.exists(c)]


def load_tree(override_dir: Path | None = None) -> Tree:
    """Read and validate the tree and the dates (PolicyFileError names the file and field)."""
    data = read_policy(TREE_FILE, TreeData, override_dir)
    dates = read_policy(DATES_FILE, ActDates, override_dir)
    try:
        return Tree(data=data, dates=dates)
    except ValidationError as exc:
        raise PolicyFileError(f"{TREE_FILE}.yaml with {DATES_FILE}.yaml: {exc}") from exc


@cache
def default_tree() -> Tree:
    return load_tree()

