"""The CLI tests here drive the real Typer app against the in-process API (tests/cli)."""

from tests.cli.conftest import api, cli, settings  # noqa: F401
