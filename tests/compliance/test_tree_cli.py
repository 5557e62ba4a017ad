"""`fabriek act` through the API: assess interactively (stdin) or from an answers file, bad
files rejected clearly, attach to a proposal, and the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fabriek.cli.context import CliContext
from fabriek.cli.main import app
from fabriek.client import FabriekClient
from fabriek.compliance.models import ActAssessment
from tests import builders
from tests.cli.conftest import Cli, api, cli, settings  # noqa: F401  (fixtures)
from tests.cli.helpers import error_lines, org_options, proposal_options
from tests.conftest import Person

pytestmark = pytest.mark.integration


@pytest.fixture
def applicant(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("eva@tulpen.example.eu")


@pytest.fixture
def org_id(cli: Cli, applicant: Person) -> int:  # noqa: F811
    return cli.json("org", "register", *org_options(), "--vouch", token=applicant.token)["id"]


def _run(api_client: TestClient, token: str, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    def client_factory(server: str, tok: str | None) -> FabriekClient:
        return FabriekClient.from_httpx(api_client, tok, backoff=0)

    env = {"FABRIEK_TOKEN": None, "FABRIEK_SERVER": None, "FABRIEK_DEBUG": None,
           "COLUMNS": "200"}
    return CliRunner().invoke(app, ["--token", token, *args], input=stdin,
                              obj=CliContext(client_factory=client_factory), env=env)


def _stored(database) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work(readonly=True) as s:
        return len(s.query(ActAssessment).all())


def test_interactive_assessment_reads_answers_from_the_terminal(api, applicant, org_id,  # noqa: F811
                                                                database):
    # kind 1 (system), definition 1 (yes), role 2 (deployer), role_change 4 (none),
    # scope 2 (deployer in EU), exclusions 5 (none), prohibited 6 (emotion in the workplace)
    stdin = "\n".join(["1", "1", "2", "9", "4", "2", "5", "6"]) + "\n"

    result = _run(api, applicant.token, "act", "assess", "--org", str(org_id), stdin=stdin)

    assert result.exit_code == 0, result.output
    assert "Is it a machine-based system" in result.output
    assert "answer with one or more numbers from 1 to 4" in result.output  # the "9"
    assert "Prohibited AI practice" in result.output
    assert "Article 5(1)(f)" in result.output
    assert _stored(database) == 1


def test_interactive_assessment_in_dutch(api, applicant, org_id):  # noqa: F811
    stdin = "\n".join(["1", "3"]) + "\n"  # an AI system? no: rules written by people

    result = _run(api, applicant.token, "act", "assess", "--org", str(org_id), "--lang", "nl",
                  stdin=stdin)

    assert result.exit_code == 0, result.output
    assert "Beoordeelt u een AI-systeem" in result.output
    assert "Buiten de AI-verordening" in result.output


def test_assessment_from_an_answers_file_as_json(cli, applicant, org_id, tmp_path):  # noqa: F811
    path = tmp_path / "case.yaml"
    case = yaml.safe_load(Path("tests/compliance/cases/credit-scoring-bank.yaml").read_text())
    path.write_text(yaml.safe_dump(case), encoding="utf-8")  # a case file: `answers:` inside

    body = cli.json("act", "assess", "--org", str(org_id), "--answers", str(path), "--lang",
                    "nl", token=applicant.token)

    assert body["categories"] == ["high-risk-annex-iii"]
    assert body["outcome"]["lang"] == "nl"
    shown = cli("act", "show", str(body["id"]), token=applicant.token)
    assert shown.exit_code == 0 and "Article 113" in shown.stdout


@pytest.mark.parametrize(("content", "needle"), [
    ("kind: [unclosed", "cannot read"),
    ("- system\n- yes\n", "must hold a mapping"),
    ("answers: 3\n", "must map question ids to option ids"),
    ("{}\n", "must map question ids to option ids"),
    (yaml.safe_dump({**builders.MINIMAL_RISK_ANSWERS, "annex_i": "maybe"}),
     "question 'annex_i': 'maybe' is not one of its options"),
    (yaml.safe_dump({k: v for k, v in builders.MINIMAL_RISK_ANSWERS.items()
                     if k != "transparency"}), "question 'transparency' needs an answer"),
])
def test_bad_answers_files_are_rejected_clearly_and_nothing_is_stored(
        cli, applicant, org_id, tmp_path, database, content, needle):  # type: ignore[no-untyped-def]  # noqa: F811
    path = tmp_path / "answers.yaml"
    path.write_text(content, encoding="utf-8")

    result = cli("act", "assess", "--org", str(org_id), "--answers", str(path),
                 token=applicant.token)

    assert result.exit_code != 0
    [line] = error_lines(result)
    assert needle in line, line
    assert _stored(database) == 0


def test_assess_and_attach_then_submit(cli, applicant, org_id, tmp_path):  # noqa: F811
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(builders.MINIMAL_RISK_ANSWERS), encoding="utf-8")
    draft = cli.json("proposal", "create", *proposal_options(org_id), token=applicant.token)

    made = cli("act", "assess", "--org", str(org_id), "--answers", str(path), "--attach",
               str(draft["id"]), token=applicant.token)
    decided = cli.json("proposal", "submit", str(draft["id"]), token=applicant.token)
    view = cli("act", "proposal", str(draft["id"]), token=applicant.token)

    assert made.exit_code == 0 and f"attached to proposal {draft['id']}" in made.stdout
    assert decided["state"] == "accepted"
    assert view.exit_code == 0 and "minimal-risk" in view.stdout


def test_ledger_command_and_the_job_submission_warning(cli, api, applicant, org_id, tmp_path):  # noqa: F811
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(builders.MINIMAL_RISK_ANSWERS), encoding="utf-8")
    made = cli.json("act", "assess", "--org", str(org_id), "--answers", str(path),
                    token=applicant.token)
    decided = cli.json("proposal", "create", *proposal_options(org_id), "--self-assessment",
                       str(made["id"]), "--submit", token=applicant.token)
    allocation = str(decided["allocation_ids"][0])
    first = cli("job", "submit", "-a", allocation, "--name", "a", "--time-limit", "1",
                "--model", "tulip-7b", "--json", "--", "true", token=applicant.token)
    assert first.exit_code == 0, first.output
    reported = cli("act", "ledger", "tulip-7b", "--report-flop", "9.99999e24",
                   token=applicant.token)
    assert reported.exit_code == 0, reported.output
    assert "1e+25 FLOP" in reported.stdout or "9.9999" in reported.stdout

    warned = cli("job", "submit", "-a", allocation, "--name", "b", "--gpus", "4",
                 "--time-limit", "600", "--model", "tulip-7b", "--", "true",
                 token=applicant.token)

    assert warned.exit_code == 0, warned.output
    assert "AI Act:" in warned.output and "10^25" in warned.output
    shown = cli("act", "ledger", "tulip-7b", token=applicant.token)
    assert "over 10^25" in shown.stdout
    both = cli("act", "ledger", "tulip-7b", "--estimate", "--report-flop", "1",
               token=applicant.token)
    assert both.exit_code == 2


def test_someone_elses_assessment_is_not_found(cli, applicant, org_id, make_person,  # noqa: F811
                                               tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(builders.MINIMAL_RISK_ANSWERS), encoding="utf-8")
    made = cli.json("act", "assess", "--org", str(org_id), "--answers", str(path),
                    token=applicant.token)
    other = make_person("bob@other.example")

    result = cli("act", "show", str(made["id"]), token=other.token)

    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: Not found: self-assessment {made['id']} not found"]
