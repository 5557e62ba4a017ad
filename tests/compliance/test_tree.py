"""The self-assessment tree: valid data, every path ends in an outcome, citations exist in the
Act (EN and NL), and bad answers are refused naming the question."""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabriek.compliance.act_text import LANGS, load_act
from fabriek.compliance.tree import END, Tree, default_tree, load_tree, missing_citations
from fabriek.compliance.tree_engine import AnswerError, assess, next_question
from fabriek.kit.policydata import PolicyFileError

pytestmark = pytest.mark.unit

HIGH_RISK_RECRUITER = {
    "kind": "system", "definition": "yes", "role": "provider", "scope": "placed-in-eu",
    "exclusions": "none", "prohibited": ["none"], "annex_i": "no", "annex_iii": "employment",
    "annex_iii_employment": "recruitment", "profiling": "no", "derogation": ["none"],
    "transparency": ["none"], "open_source": "no"}


def _annex_i_only() -> dict[str, Any]:
    """A Section A product with third-party assessment and no Annex III use."""
    skip = ("annex_iii_employment", "profiling", "derogation")
    return {**{k: v for k, v in HIGH_RISK_RECRUITER.items() if k not in skip},
            "annex_i": "section-a-third-party", "annex_iii": "none"}


@pytest.fixture(scope="module")
def tree() -> Tree:
    return default_tree()


def _paths(tree: Tree) -> list[list[tuple[str, str]]]:
    """For every option of every question, a whole route through it: the way to the question,
    the option, then onwards to END. (Enumerating every route is exponential; choosing every
    option once covers every edge, and the tree's load check already refuses cycles.)"""
    data = tree.data
    way: dict[str, list[tuple[str, str]]] = {data.start: []}
    queue = [data.start]
    while queue:  # breadth-first: the shortest way to each question
        qid = queue.pop(0)
        q = data.question(qid)
        assert q is not None, f"dangling next {qid!r}"
        for option in q.options:
            target = option.next or q.next
            assert target is not None, f"{qid}/{option.id} leads nowhere"
            if target != END and target not in way:
                way[target] = [*way[qid], (qid, option.id)]
                queue.append(target)

    def onwards(qid: str) -> list[tuple[str, str]]:
        steps: list[tuple[str, str]] = []
        while qid != END:
            q = data.question(qid)
            assert q is not None and len(steps) < 40
            option = q.options[0]
            steps.append((qid, option.id))
            qid = option.next or q.next  # type: ignore[assignment]
        return steps

    return [[*way[q.id], (q.id, o.id), *onwards(o.next or q.next)]  # type: ignore[arg-type]
            for q in data.questions for o in q.options]


@pytest.mark.parametrize("lang", LANGS)
def test_every_citation_exists_in_the_act_text(tree: Tree, lang: str) -> None:
    assert missing_citations(tree, load_act(lang)) == []  # type: ignore[arg-type]


def test_every_question_and_outcome_cites_the_act(tree: Tree) -> None:
    data = tree.data
    assert all(q.cites for q in data.questions)
    assert all(o.cites for q in data.questions for o in q.options)
    assert all(x.cites for x in (*data.categories, *data.obligations, *data.advice))


@pytest.mark.parametrize("citation", [
    "Article 5(1)(i)", "Article 5(1)(z)", "Article 5(9)", "Article 114", "Annex III point 9",
    "Annex III point 1(d)", "Annex I Section C", "Recital 181", "Article 3(69)", "Art. 5",
    "Article 6(3)(e)", "Article 50(4)(a)"])
def test_a_citation_the_act_does_not_have_is_found_missing(citation: str) -> None:
    assert not load_act("en").exists(citation)
    assert not load_act("nl").exists(citation)


@pytest.mark.parametrize("citation", [
    "Article 5(1)(h)(iii)", "Article 3(63)", "Article 113(c)", "Annex III point 5(b)",
    "Annex I Section B", "Recital 12", "Article 51(2)", "Annex XIII"])
def test_citations_of_points_and_annexes_resolve(citation: str) -> None:
    assert load_act("en").exists(citation)
    assert load_act("nl").exists(citation)


def test_eur_lex_links() -> None:
    assert load_act("en").link("Article 5(1)(f)") == \
        "https://eur-lex.europa.eu/eli/reg/2024/1689/oj/eng#art_5"
    assert load_act("nl").link("Annex III point 4") == \
        "https://eur-lex.europa.eu/eli/reg/2024/1689/oj/nld#anx_III"
    assert load_act("en").link("Recital 12").endswith("#rct_12")


def test_dutch_and_english_share_citations_and_differ_in_words(tree: Tree) -> None:
    en = assess(tree, HIGH_RISK_RECRUITER, "en")
    nl = assess(tree, HIGH_RISK_RECRUITER, "nl")
    assert en.category_ids == nl.category_ids == ["high-risk-annex-iii"]
    assert [o.cites for o in en.obligations] == [o.cites for o in nl.obligations]
    assert en.role_label == "provider" and nl.role_label == "aanbieder"
    assert "hoog risico" in nl.categories[0].label


def test_dates_come_from_the_dates_file_with_their_basis(tree: Tree) -> None:
    outcome = assess(tree, HIGH_RISK_RECRUITER)
    by_id = {o.id: o for o in outcome.obligations}
    assert (by_id["ai-literacy"].applies_from, by_id["ai-literacy"].date_basis) == (
        "2025-02-02", "Article 113(a)")
    assert (by_id["hr-requirements"].applies_from, by_id["hr-requirements"].date_basis) == (
        "2026-08-02", "Article 113")
    annex_i = assess(tree, _annex_i_only())
    assert annex_i.category_ids == ["high-risk-annex-i"]
    assert {o.id: o.applies_from for o in annex_i.obligations}["hr-requirements"] == \
        "2027-08-02"


def test_a_date_change_is_an_edit_to_the_dates_file(tmp_path: Path) -> None:
    raw = yaml.safe_load(Path("src/fabriek/policy/ai-act-dates.yaml").read_text())
    for entry in raw["dates"]:
        if entry["id"] == "article-6-1":
            entry["date"] = "2028-12-02"
    raw["version"] = "amended"
    (tmp_path / "ai-act-dates.yaml").write_text(yaml.safe_dump(raw))
    tree = load_tree(tmp_path)
    outcome = assess(tree, _annex_i_only())
    assert {o.id: o.applies_from for o in outcome.obligations}["hr-requirements"] == \
        "2028-12-02"
    assert outcome.tree_version.endswith("dates-amended")


def _tree_yaml() -> dict[str, Any]:
    return yaml.safe_load(Path("src/fabriek/policy/ai-act-tree.yaml").read_text())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t["questions"][0]["options"][0].update(next="nowhere"),
     "next 'nowhere' is not a question"),
    (lambda t: t["obligations"][0]["when"].update(all=["never-set"]),
     "flag 'never-set' is never set"),
    (lambda t: t["obligations"][0]["applies_from"][0].update(date="someday"),
     r"unknown dates: \['someday'\]"),
    (lambda t: t["questions"][-1]["options"][-1].update(next="kind"), "cycle"),
    (lambda t: t["questions"][0]["text"].pop("nl"), "nl"),
    (lambda t: t["questions"][0].update(cites=[]), "cites"),
    (lambda t: t["questions"][2]["options"][0].update(role="boss"), "unknown role 'boss'"),
])
def test_a_broken_tree_is_refused_at_load(tmp_path: Path, edit: Any, message: str) -> None:
    raw = _tree_yaml()
    edit(raw)
    (tmp_path / "ai-act-tree.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises((PolicyFileError, ValueError), match=message):
        load_tree(tmp_path)


def test_a_dangling_question_is_refused(tmp_path: Path) -> None:
    raw = _tree_yaml()
    orphan = {**raw["questions"][-1], "id": "orphan"}
    raw["questions"].append(orphan)
    (tmp_path / "ai-act-tree.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(PolicyFileError, match="orphan cannot be reached"):
        load_tree(tmp_path)


@pytest.mark.parametrize(("answers", "question", "message"), [
    ({**HIGH_RISK_RECRUITER, "colour": "blue"}, "colour", "no such question"),
    ({**HIGH_RISK_RECRUITER, "role": "boss"}, "role", "'boss' is not one of its options"),
    ({k: v for k, v in HIGH_RISK_RECRUITER.items() if k != "scope"}, "scope",
     "needs an answer"),
    ({**HIGH_RISK_RECRUITER, "gpai_systemic": "none"}, "gpai_systemic", "not on the path"),
    ({**HIGH_RISK_RECRUITER, "role": ["provider", "deployer"]}, "role", "takes one answer"),
    ({**HIGH_RISK_RECRUITER, "prohibited": []}, "prohibited", "at least one"),
    ({**HIGH_RISK_RECRUITER, "prohibited": ["none", "social-scoring"]}, "prohibited",
     "cannot be combined"),
    ({**HIGH_RISK_RECRUITER, "role": 3}, "role", "not one of its options"),
])
def test_bad_answers_name_the_question(tree: Tree, answers: dict[str, Any], question: str,
                                       message: str) -> None:
    with pytest.raises(AnswerError, match=message) as info:
        assess(tree, answers)
    assert info.value.question == question
    assert info.value.status == 422


def test_answers_must_be_a_mapping(tree: Tree) -> None:
    with pytest.raises(AnswerError, match="mapping"):
        assess(tree, ["system"])  # type: ignore[arg-type]


def test_the_interactive_order_asks_one_question_after_another(tree: Tree) -> None:
    answers: dict[str, Any] = {}
    asked = []
    while (q := next_question(tree, answers)) is not None:
        asked.append(q.id)
        answers[q.id] = HIGH_RISK_RECRUITER[q.id]
    assert asked == list(HIGH_RISK_RECRUITER)


def test_the_path_explains_which_answers_led_where(tree: Tree) -> None:
    answers = {k: HIGH_RISK_RECRUITER[k] for k in
               ("kind", "definition", "role", "scope", "exclusions")}
    outcome = assess(tree, {**answers, "prohibited": ["social-scoring", "emotion-workplace"]})
    assert outcome.category_ids == ["prohibited"]
    assert [p.citation for p in outcome.prohibited_practices] == [
        "Article 5(1)(c)", "Article 5(1)(f)"]
    last = outcome.path[-1]
    assert last.question == "prohibited"
    assert [a.id for a in last.answers] == ["social-scoring", "emotion-workplace"]
    assert last.answers[1].cites == ["Article 5(1)(f)"]


def test_every_prohibited_point_is_its_own_option(tree: Tree) -> None:
    q = tree.data.question("prohibited")
    assert q is not None
    points = sorted(c for o in q.options for c in o.cites if c.startswith("Article 5(1)("))
    assert points == [f"Article 5(1)({p})" for p in "abcdefgh"]


def test_every_annex_iii_point_is_offered(tree: Tree) -> None:
    cited = {c for q in tree.data.questions for o in q.options for c in o.cites
             if c.startswith("Annex III point ")}
    expected = {f"Annex III point {area}({p})" for area, points in
                {1: "abc", 3: "abcd", 4: "ab", 5: "abcd", 6: "abcde", 7: "abcd", 8: "ab"}.items()
                for p in points} | {"Annex III point 2"}
    assert expected <= cited


def test_open_source_carve_out_does_not_cover_high_risk_or_transparency(tree: Tree) -> None:
    base = {**HIGH_RISK_RECRUITER, "open_source": "yes"}
    assert "high-risk-annex-iii" in assess(tree, base).category_ids
    minimal = {k: v for k, v in base.items() if not k.startswith(("annex_iii_", "profiling",
                                                                    "derogation"))}
    minimal["annex_iii"] = "none"
    assert assess(tree, minimal).category_ids == ["out-of-scope"]
    chat = {**minimal, "transparency": ["interacts"]}
    assert assess(tree, chat).category_ids == ["transparency-risk"]


def test_combinations_of_multiple_choice_answers_are_accepted(tree: Tree) -> None:
    q = tree.data.question("transparency")
    assert q is not None
    ids = [o.id for o in q.options if not o.exclusive]
    minimal = {k: v for k, v in HIGH_RISK_RECRUITER.items()
               if k not in ("annex_iii_employment", "profiling", "derogation")}
    minimal["annex_iii"] = "none"
    for picks in product([False, True], repeat=len(ids)):
        chosen = [i for i, p in zip(ids, picks, strict=True) if p] or ["none"]
        outcome = assess(tree, {**minimal, "transparency": chosen})
        assert ("transparency-risk" in outcome.category_ids) == (chosen != ["none"])
