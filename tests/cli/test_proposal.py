"""`fabriek proposal`, `review`, `allocation` and `cutoff` through the API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fabriek.identity.enums import Role
from tests import builders
from tests.cli.conftest import Cli
from tests.cli.helpers import error_lines, org_options, proposal_options, self_assessment
from tests.conftest import Person

pytestmark = pytest.mark.integration


@pytest.fixture
def applicant(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("eva@tulpen.example.eu")


@pytest.fixture
def org_id(cli: Cli, applicant: Person) -> int:
    return cli.json("org", "register", *org_options(), "--vouch", token=applicant.token)["id"]


@pytest.fixture
def assessed(cli: Cli, applicant: Person, org_id: int) -> list[str]:
    return self_assessment(cli, org_id, applicant.token)


def test_proposal_create_and_submit_on_playground_ends_accepted(cli: Cli, applicant: Person,
                                                                org_id: int, assessed):
    draft = cli.json("proposal", "create", *proposal_options(org_id), *assessed,
                     token=applicant.token)

    decided = cli.json("proposal", "submit", str(draft["id"]), token=applicant.token)

    assert draft["state"] == "draft"
    assert decided["state"] == "accepted"
    assert decided["reference"].startswith("FAB-") and "PG" in decided["reference"]
    assert [c["passed"] for c in decided["checks"]] == [True] * 12
    [allocation_id] = decided["allocation_ids"]
    allocation = cli.json("allocation", "show", str(allocation_id), token=applicant.token)
    assert (allocation["gpu_hours"], allocation["gpu_hours_left"], allocation["factory"],
            allocation["partition"], allocation["priority_class"]) == (
        2000, 2000.0, "local", "gpu", "entry")


def test_proposal_show_prints_the_checks_table_and_decision(cli: Cli, applicant: Person,
                                                            org_id: int, assessed):
    decided = cli.json("proposal", "create", *proposal_options(org_id), *assessed, "--submit",
                       token=applicant.token)

    result = cli("proposal", "show", str(decided["id"]), token=applicant.token)

    assert result.exit_code == 0, result.output
    assert "Admission checks (attempt 1)" in result.stdout
    for name in ("eligibility", "organisation-vouched", "ethics-commitment", "start-date"):
        assert name in result.stdout
    assert "Decision: accepted, 2,000 GPU-hours granted" in result.stdout
    assert f"fabriek allocation show {decided['allocation_ids'][0]}" in result.stdout


def test_proposal_failing_checks_is_rejected_with_reasons(cli: Cli, applicant: Person,
                                                         org_id: int, assessed):
    decided = cli.json("proposal", "create", *proposal_options(org_id, gpu_hours=9000),
                       *assessed, "--not-civilian", "--submit", token=applicant.token)

    assert decided["state"] == "rejected"
    assert {c["check"] for c in decided["checks"] if not c["passed"]} == {
        "gpu-hours", "civilian-use"}
    assert decided["allocation_ids"] == []


def test_proposal_create_from_a_yaml_file(cli: Cli, applicant: Person, org_id: int,
                                          tmp_path: Path):
    body = builders.proposal(org_id, "playground", gpu_hours=1500)
    body["gpu-memory-gb"] = body.pop("gpu_memory_gb")  # dashed keys are accepted too
    path = tmp_path / "proposal.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")

    draft = cli.json("proposal", "create", "--file", str(path), "--title", "From a file",
                     token=applicant.token)

    assert (draft["title"], draft["gpu_hours"], draft["gpu_memory_gb"], draft["mode"]) == (
        "From a file", 1500, 80, "playground")


def test_proposal_create_with_an_unreadable_file_exits_1(cli: Cli, applicant: Person,
                                                         tmp_path: Path):
    path = tmp_path / "proposal.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")

    result = cli("proposal", "create", "--file", str(path), token=applicant.token)

    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: {path} must hold a mapping of fields, not list"]


def test_proposal_create_without_required_options_is_a_usage_error(cli: Cli, applicant: Person):
    result = cli("proposal", "create", "--org", "1", "--mode", "playground",
                 token=applicant.token)

    assert result.exit_code == 2
    assert error_lines(result) == [
        "Error: missing --title, --abstract, --sector, --gpu-hours, --duration-months, "
        "--start-on, --intended-system, --civilian/--not-civilian"]


def test_proposal_list_json_parses_and_filters(cli: Cli, applicant: Person, org_id: int,
                                               assessed):
    accepted = cli.json("proposal", "create", *proposal_options(org_id), *assessed, "--submit",
                        token=applicant.token)
    draft = cli.json("proposal", "create", *proposal_options(org_id), token=applicant.token)

    everything = cli.json("proposal", "list", token=applicant.token)
    drafts = cli.json("proposal", "list", "--state", "draft", token=applicant.token)

    assert [p["id"] for p in everything] == [accepted["id"], draft["id"]]
    assert [p["id"] for p in drafts] == [draft["id"]]


def test_proposal_edit_then_withdraw(cli: Cli, applicant: Person, org_id: int):
    draft = cli.json("proposal", "create", *proposal_options(org_id), token=applicant.token)

    edited = cli.json("proposal", "edit", str(draft["id"]), "--gpu-hours", "1200",
                      "--dataset", "nl-case-law", "--dataset", "nl-statutes",
                      token=applicant.token)
    withdrawn = cli.json("proposal", "withdraw", str(draft["id"]), "--reason",
                         "merged into another proposal", token=applicant.token)

    assert (edited["gpu_hours"], edited["datasets"]) == (1200, ["nl-case-law", "nl-statutes"])
    assert withdrawn["state"] == "withdrawn"


def test_proposal_submit_twice_exits_1_with_the_state_hint(cli: Cli, applicant: Person,
                                                           org_id: int, assessed):
    decided = cli.json("proposal", "create", *proposal_options(org_id), *assessed, "--submit",
                       token=applicant.token)

    result = cli("proposal", "submit", str(decided["id"]), token=applicant.token)

    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert "`fabriek proposal show ID` shows the current state" in result.output


def test_fast_lane_review_and_decision(cli: Cli, applicant: Person, org_id: int,  # type: ignore[no-untyped-def]
                                       officer: Person, make_person, assessed):
    reviewer = make_person("rev@uni.example.eu", Role.reviewer)
    submitted = cli.json("proposal", "create",
                         *proposal_options(org_id, "fast-lane", gpu_hours=40_000,
                                           duration_months=3),
                         *assessed, "--submit", token=applicant.token)
    assert submitted["state"] == "in-review"

    review = cli.json("proposal", "assign-reviewer", str(submitted["id"]), "--reviewer",
                      str(reviewer.user_id), "--kind", "technical", token=officer.token)
    mine = cli.json("review", "list", token=reviewer.token)
    scored = cli.json("review", "submit", str(review["id"]), "--score",
                      "technical-readiness=4", "--score", "resources=3", "--comment",
                      "Solid plan", token=reviewer.token)
    decided = cli.json("proposal", "decide", str(submitted["id"]), "--outcome",
                       "accept-reduced", "--gpu-hours-granted", "30000", "--reasons",
                       "the scaling runs justify 30,000 GPU-hours", token=officer.token)

    assert [r["id"] for r in mine] == [review["id"]]
    assert (scored["state"], scored["scores"]) == (
        "submitted", {"technical-readiness": 4, "resources": 3})
    assert (decided["state"], decided["gpu_hours_granted"]) == ("accepted-reduced", 30_000)
    [allocation] = cli.json("allocation", "list", token=applicant.token)
    assert (allocation["gpu_hours"], allocation["priority_class"]) == (30_000, "priority")


def test_review_submit_with_a_malformed_score_is_a_usage_error(cli: Cli, applicant: Person):
    result = cli("review", "submit", "1", "--score", "excellence", token=applicant.token)

    assert result.exit_code == 2
    assert error_lines(result) == ["Error: --score 'excellence' is not CRITERION=NUMBER"]


def test_allocation_direct_strategic_by_an_officer(cli: Cli, org_id: int, officer: Person):
    options = proposal_options(org_id, "strategic", gpu_hours=100_000, duration_months=12)

    proposal = cli.json("allocation", "direct", *options, "--reasons",
                        "Destination Earth digital twin", token=officer.token)

    assert (proposal["state"], proposal["mode"], proposal["gpu_hours_granted"]) == (
        "accepted", "strategic", 100_000)
    [allocation_id] = proposal["allocation_ids"]
    allocation = cli.json("allocation", "show", str(allocation_id), token=officer.token)
    assert allocation["priority_class"] == "strategic"


def test_allocation_direct_by_an_applicant_is_refused(cli: Cli, applicant: Person, org_id: int):
    options = proposal_options(org_id, "emergency", gpu_hours=1000, duration_months=1)

    result = cli("allocation", "direct", *options, "--reasons", "please",
                 token=applicant.token)

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: Not allowed: only access officers make direct allocations"]
    assert "`fabriek whoami` shows your roles" in result.output


def test_cutoff_release_with_nothing_due(cli: Cli, officer: Person):
    released = cli.json("cutoff", "release", "large-scale", token=officer.token)

    assert released == {"mode": "large-scale", "released": []}


def test_policy_modes_json_lists_the_modes(cli: Cli):
    policy = cli.json("policy", "modes")

    assert [m["id"] for m in policy["modes"]][:3] == ["playground", "fast-lane", "large-scale"]


def test_audit_list_shows_the_proposal_history(cli: Cli, applicant: Person, org_id: int,
                                               assessed):
    decided = cli.json("proposal", "create", *proposal_options(org_id), *assessed, "--submit",
                       token=applicant.token)

    events = cli.json("audit", "list", "--subject-type", "proposal", "--subject-id",
                      str(decided["id"]), token=applicant.token)

    assert [(e["action"], e["to_state"]) for e in events] == [
        ("proposal.drafted", "draft"), ("proposal.self-assessment-attached", None),
        ("proposal.submitted", "submitted"),
        ("proposal.accepted", "accepted")]


def test_refer_ranks_the_factories_and_explains_the_scores(cli: Cli, applicant: Person,
                                                           org_id: int, make_person):  # type: ignore[no-untyped-def]
    draft = cli.json("proposal", "create", *proposal_options(org_id), "--language", "nl",
                     "--language", "en", token=applicant.token)
    assert draft["languages"] == ["nl", "en"]

    table = cli("refer", str(draft["id"]), token=applicant.token)
    referral = cli.json("refer", str(draft["id"]), token=applicant.token)

    assert table.exit_code == 0, table.output
    assert "Ranking (score = sum of the points)" in table.stdout and "Excluded" in table.stdout
    assert "not in operation yet" in table.stdout
    first = referral["rankings"][0]
    assert (first["rank"], first["factory"], first["eligible"]) == (1, "local", True)
    assert first["score"] == pytest.approx(sum(t["points"] for t in first["terms"]))
    stranger = make_person("sam@elsewhere.example")
    denied = cli("refer", str(draft["id"]), token=stranger.token)
    assert denied.exit_code != 0 and "not found" in denied.output


def test_allocation_move_rejects_a_malformed_site_before_calling_the_server(cli: Cli,
                                                                           officer: Person):
    result = cli("allocation", "move", "1", "--site", "local-gpu=10", "--reason", "test",
                 token=officer.token)
    assert result.exit_code != 0
    assert "write FACTORY/PARTITION=GPU-HOURS" in result.output
