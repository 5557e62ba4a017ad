"""Operator commands in-process: bootstrap people and tokens, migrate, verify the audit chain."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from fabriek.db.session import Database
from tests.cli.conftest import Cli
from tests.cli.helpers import error_lines

pytestmark = pytest.mark.integration


def test_admin_create_user_prints_a_token_that_works(cli: Cli):
    result = cli("admin", "create-user", "--email", "Olga@EuroHPC.example.eu",
                 "--role", "access-officer", "--name", "Olga")

    assert result.exit_code == 0, result.output
    token = next(line for line in result.stdout.splitlines() if line.startswith("fab_"))
    assert "shown once and not stored" in result.stdout
    me = cli.json("whoami", token=token)
    assert (me["email"], me["display_name"], me["roles"]) == (
        "olga@eurohpc.example.eu", "Olga", ["access-officer"])


def test_admin_create_token_issues_a_second_working_token(cli: Cli):
    first = cli.json("admin", "create-user", "--email", "eva@tulpen.example.eu")

    second = cli.json("admin", "create-token", "--email", "eva@tulpen.example.eu")

    assert second["token"] != first["token"]
    assert (second["user_id"], second["roles"]) == (first["user_id"], ["applicant"])
    assert cli.json("whoami", token=second["token"])["email"] == "eva@tulpen.example.eu"


def test_admin_create_user_twice_exits_1_with_the_conflict(cli: Cli):
    cli.json("admin", "create-user", "--email", "eva@tulpen.example.eu")

    result = cli("admin", "create-user", "--email", "eva@tulpen.example.eu")

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: Conflict: a user with e-mail eva@tulpen.example.eu already exists"]
    assert "Traceback" not in result.output


def test_admin_create_token_for_unknown_person_exits_1(cli: Cli):
    result = cli("admin", "create-token", "--email", "nobody@example.eu")

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: Not found: no user with e-mail nobody@example.eu"]


def test_db_upgrade_is_safe_to_repeat(cli: Cli):
    first = cli.json("db", "upgrade")
    second = cli.json("db", "upgrade")

    assert first["to"] == second["to"] == second["from"]
    assert first["to"] is not None


def test_audit_verify_on_a_fresh_database_exits_0(cli: Cli):
    result = cli("audit", "verify")

    assert result.exit_code == 0, result.output
    assert "audit chain intact: 0 entries" in result.stdout


def test_audit_verify_after_activity_reports_entries_and_head(cli: Cli, database: Database):
    cli.json("admin", "create-user", "--email", "eva@tulpen.example.eu")

    report = cli.json("audit", "verify")

    # The bootstrap also seeds the data labs' datasets, each publication audited.
    with database.session(readonly=True) as session:
        actions = session.execute(text("SELECT action FROM audit_events ORDER BY seq")
                                  ).scalars().all()
    assert actions[-2:] == ["user.created", "token.issued"]
    assert (report["ok"], report["entries"], report["head_seq"], report["problems"]) == (
        True, len(actions), len(actions), [])
    assert len(report["head_hash"]) == 64


def test_audit_verify_exits_1_naming_a_tampered_entry(cli: Cli, database: Database):
    cli.json("admin", "create-user", "--email", "eva@tulpen.example.eu")
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET reason = 'edited later' WHERE seq = 1"))

    result = cli("audit", "verify")

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: entry seq 1: content was changed after it was written"]


def test_audit_verify_through_the_api_as_an_officer(cli: Cli, officer):  # type: ignore[no-untyped-def]
    report = cli.json("audit", "verify", "--api", token=officer.token)

    assert (report["ok"], report["entries"], report["problems"]) == (True, 2, [])


def test_admin_set_password_lets_the_person_sign_in_to_the_portal(cli: Cli, database: Database):
    from fabriek.identity import web as identity_web
    from fabriek.identity.web import SignInLimits

    cli.json("admin", "create-user", "--email", "olga@eurohpc.example.eu",
             "--role", "access-officer")
    result = cli("admin", "set-password", "--email", "olga@eurohpc.example.eu",
                 "--password-stdin", input="a portal password!\n")
    assert result.exit_code == 0, result.output
    with database.unit_of_work() as session:
        user = identity_web.verify_password(session, email="olga@eurohpc.example.eu",
                                            password="a portal password!", client="test",
                                            limits=SignInLimits())
        assert user.email == "olga@eurohpc.example.eu"

    short = cli("admin", "set-password", "--email", "olga@eurohpc.example.eu",
                "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
