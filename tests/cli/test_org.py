"""`fabriek org` and `fabriek eligibility` through the API."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli
from tests.cli.helpers import error_lines, org_options
from tests.conftest import Person

pytestmark = pytest.mark.integration


@pytest.fixture
def applicant(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("eva@tulpen.example.eu")


def test_org_register_and_show_classify_a_startup_sme(cli: Cli, applicant: Person):
    registered = cli.json("org", "register", *org_options(), "--vouch", token=applicant.token)

    shown = cli.json("org", "show", str(registered["id"]), token=applicant.token)

    assert shown["id"] == registered["id"]
    assert (shown["legal_name"], shown["country"], shown["headcount"]) == (
        "Lumen Vision B.V.", "NL", 12)
    assert shown["classification"]["size_class"] == "small"
    assert shown["classification"]["categories"] == ["sme", "startup"]
    assert len(shown["classification"]["reasons"]) == 2
    assert (shown["eligibility"]["eligible"], shown["eligibility"]["groups"]) == (
        True, ["eu_member_state"])
    assert shown["vouched_at"] is not None


def test_org_show_for_people_prints_reasons_and_eligibility(cli: Cli, applicant: Person):
    org = cli.json("org", "register", *org_options(), token=applicant.token)

    result = cli("org", "show", str(org["id"]), token=applicant.token)

    assert result.exit_code == 0, result.output
    assert "eligible — NL qualifies as: EU member state" in result.stdout
    assert "start-up: an SME founded 2 year(s) ago" in result.stdout
    assert "fabriek org vouch" in result.stdout  # not vouched yet: says what to do


def test_org_register_unknown_country_exits_1_with_the_api_message(cli: Cli, applicant: Person):
    result = cli("org", "register", *org_options(country="XX"), token=applicant.token)

    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in line
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_org_register_bad_kind_is_a_usage_error(cli: Cli, applicant: Person):
    options = org_options()
    options[options.index("--kind") + 1] = "charity"

    result = cli("org", "register", *options, token=applicant.token)

    assert result.exit_code == 2


def test_org_list_json_parses(cli: Cli, applicant: Person):
    a = cli.json("org", "register", *org_options(), token=applicant.token)
    b = cli.json("org", "register", *org_options(registration_id="KVK-2", legal_name="Two B.V."),
                 token=applicant.token)

    listed = cli.json("org", "list", token=applicant.token)
    everything = cli.json("org", "list", "--all", "--limit", "1", token=applicant.token)

    assert [o["id"] for o in listed] == [a["id"], b["id"]]
    assert [o["id"] for o in everything] == [a["id"], b["id"]]


def test_org_update_withdraws_vouching_until_vouched_again(cli: Cli, applicant: Person):
    org = cli.json("org", "register", *org_options(), "--vouch", token=applicant.token)

    updated = cli.json("org", "update", str(org["id"]), "--headcount", "60",
                       token=applicant.token)
    vouched = cli.json("org", "vouch", str(org["id"]), token=applicant.token)

    assert (updated["headcount"], updated["vouched_at"]) == (60, None)
    assert updated["classification"]["size_class"] == "medium"
    assert vouched["vouched_at"] is not None


def test_org_add_member_and_members(cli: Cli, applicant: Person, make_person):  # type: ignore[no-untyped-def]
    colleague = make_person("ana@tulpen.example.eu")
    org = cli.json("org", "register", *org_options(), token=applicant.token)

    added = cli.json("org", "add-member", str(org["id"]), "--email", colleague.email,
                     token=applicant.token)
    members = cli.json("org", "members", str(org["id"]), token=colleague.token)

    assert (added["user_id"], added["role"]) == (colleague.user_id, "member")
    assert [(m["email"], m["role"]) for m in members] == [
        ("ana@tulpen.example.eu", "member"), ("eva@tulpen.example.eu", "admin")]


def test_org_show_someone_elses_organisation_is_not_found(cli: Cli, applicant: Person,
                                                          make_person):  # type: ignore[no-untyped-def]
    other = make_person("li@other.example.eu")
    org = cli.json("org", "register", *org_options(), token=applicant.token)

    result = cli("org", "show", str(org["id"]), token=other.token)

    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: Not found: organisation {org['id']} not found"]
    assert "`fabriek org list` shows what you can see" in result.output


def test_eligibility_of_a_euro_hpc_participant(cli: Cli):
    result = cli.json("eligibility", "no")

    assert (result["eligible"], result["country"]) == (True, "NO")


def test_eligibility_of_an_unknown_country_exits_1(cli: Cli):
    result = cli("eligibility", "XX")

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: Invalid input: 'XX' is not an ISO 3166-1 alpha-2 country code"]
