"""`fabriek job` and `fabriek usage` through the API."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cli
from tests.cli.helpers import error_lines, org_options, proposal_options, self_assessment
from tests.conftest import Person

pytestmark = pytest.mark.integration


@pytest.fixture
def allocation_id(cli: Cli, make_person) -> tuple[int, Person]:  # type: ignore[no-untyped-def]
    applicant = make_person("eva@tulpen.example.eu")
    org = cli.json("org", "register", *org_options(), "--vouch", token=applicant.token)
    decided = cli.json("proposal", "create", *proposal_options(org["id"]),
                       *self_assessment(cli, org["id"], applicant.token), "--submit",
                       token=applicant.token)
    return decided["allocation_ids"][0], applicant


def test_job_submit_show_list_cancel(cli: Cli, allocation_id):  # type: ignore[no-untyped-def]
    allocation, who = allocation_id
    result = cli("job", "submit", "-a", str(allocation), "--name", "smoke", "--gpus", "2",
                 "--time-limit", "30", "-e", "SEED=42", "--json", "--", "python3", "-c",
                 "print(42)", token=who.token)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert (job["state"], job["gpus"], job["spec"]["command"], job["spec"]["env"]) == (
        "pending-submit", 2, ["python3", "-c", "print(42)"], {"SEED": "42"})
    assert job["worst_case_gpu_hours"] == 1.0

    shown = cli("job", "show", str(job["id"]), token=who.token)
    assert shown.exit_code == 0 and "smoke" in shown.stdout and "pending-submit" in shown.stdout
    listed = cli.json("job", "list", token=who.token)
    assert [j["id"] for j in listed] == [job["id"]]
    cancelled = cli.json("job", "cancel", str(job["id"]), token=who.token)
    assert cancelled["state"] == "cancelled"


def test_job_submit_over_budget_says_why_on_one_line(cli: Cli, allocation_id):  # type: ignore[no-untyped-def]
    allocation, who = allocation_id
    def week_on_four_gpus():  # type: ignore[no-untyped-def]  # 672 GPU-hours worst case
        return cli("job", "submit", "-a", str(allocation), "--name", "week", "--gpus", "4",
                   "--time-limit", "10080", "--", "true", token=who.token)

    assert [week_on_four_gpus().exit_code for _ in range(2)] == [0, 0]
    result = week_on_four_gpus()  # 3 × 672 > 2,000 granted
    assert result.exit_code == 1
    [line, *_] = error_lines(result)
    assert "worst case" in line or "may use up to" in line
    assert "Traceback" not in result.output


def test_usage_shows_granted_held_and_left(cli: Cli, allocation_id):  # type: ignore[no-untyped-def]
    allocation, who = allocation_id
    submitted = cli("job", "submit", "-a", str(allocation), "--name", "j", "--gpus", "4",
                    "--time-limit", "60", "--", "true", token=who.token)
    assert submitted.exit_code == 0, submitted.output
    [usage] = cli.json("usage", str(allocation), token=who.token)
    assert (usage["gpu_hours"], usage["gpu_hours_committed"], usage["gpu_hours_left"]) == (
        2000, 4.0, 1996.0)
    text = cli("usage", token=who.token)
    assert text.exit_code == 0 and "Left for new jobs" in text.stdout
