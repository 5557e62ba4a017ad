"""Every command documents itself with an example, and its --help works."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from fabriek.cli.main import app

pytestmark = pytest.mark.unit


def _leaves(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(command, TyperGroup):
        return [leaf for name, sub in sorted(command.commands.items())
                for leaf in _leaves(sub, (*path, name))]
    return [path]


def _command(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[name]
    return command


COMMANDS = _leaves(typer.main.get_command(app))


def test_cli_has_the_commands_of_every_capability():
    groups = {path[0] for path in COMMANDS}

    assert groups == {"act", "admin", "allocation", "audit", "cutoff", "data", "db", "demo",
                      "eligibility",
                      "factory", "gpu-specs", "job", "observatory", "org", "policy", "proposal",
                      "refer", "review", "serve", "simulate", "usage", "user", "whoami",
                      "worker"}


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_cli_command_help_has_an_example(path: tuple[str, ...]):
    command = _command(path)
    result = CliRunner().invoke(app, [*path, "--help"])

    assert result.exit_code == 0, result.output
    assert "Example" in (command.help or "")
    assert f"fabriek {' '.join(path)}" in (command.help or "")
