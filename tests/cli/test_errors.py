"""How the CLI reports what went wrong: one line and a hint; a traceback only when asked."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from fabriek.cli.context import CliContext
from fabriek.cli.main import app
from fabriek.client import FabriekApiError, FabriekClient
from tests.cli.conftest import Cli
from tests.cli.helpers import error_lines

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_exits_1_naming_it_and_fabriek_serve():
    server = f"http://127.0.0.1:{_closed_port()}"
    obj = CliContext(client_factory=lambda url, token: FabriekClient(url, token, backoff=0))

    result = CliRunner().invoke(app, ["--server", server, "policy", "modes"], obj=obj,
                                env={"FABRIEK_DEBUG": None})

    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.startswith(f"Error: cannot reach the Fabriek server at {server}")
    assert "Hint: start one with `fabriek serve`" in result.output
    assert "Traceback" not in result.output


def test_missing_token_hints_at_admin_create_token(cli: Cli):
    result = cli("whoami")

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: Not signed in: send an API token as 'Authorization: Bearer <token>'"]
    assert "fabriek admin create-token --email YOU" in result.output


def test_unknown_proposal_hints_at_the_list_command(cli: Cli, officer):  # type: ignore[no-untyped-def]
    result = cli("proposal", "show", "999999", token=officer.token)

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: Not found: proposal 999999 not found"]
    assert "`fabriek proposal list` shows what you can see" in result.output


def test_debug_lets_the_exception_through(cli: Cli):
    result = cli("--debug", "whoami")

    assert result.exit_code == 1
    assert isinstance(result.exception, FabriekApiError)
    assert result.exception.status == 401


def test_unknown_command_is_a_usage_error(cli: Cli):
    result = cli("proposal", "frobnicate")

    assert result.exit_code == 2
