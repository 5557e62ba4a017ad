"""CLI tests drive the real Typer app against the in-process API on the test database.

The CLI gets its client through `CliContext.client_factory`, handed in as the Typer `obj`, so
nothing is patched: the client speaks HTTP to FastAPI's TestClient instead of a socket, and the
operator commands (admin, db, audit verify) open the same database through `settings_factory`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from fabriek.access.service import AccessConfig
from fabriek.api.app import create_app
from fabriek.cli.context import CliContext
from fabriek.cli.main import app
from fabriek.client import FabriekClient
from fabriek.db.session import Database
from fabriek.settings import Settings


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    """Settings naming the test database, for the commands that open it in-process."""
    return Settings(database_url=database.url, data_dir=tmp_path)


@pytest.fixture
def api(settings: Settings, database: Database, access: AccessConfig) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database=database, access=access,
                               run_reconciler=False)) as client:
        yield client


@dataclass
class Cli:
    """`cli("org", "list", token=t)` runs `fabriek --token t org list` in-process."""

    api: TestClient
    settings: Settings

    def __call__(self, *args: str, token: str | None = None, input: str | None = None
                 ) -> Result:
        def client_factory(server: str, token: str | None) -> FabriekClient:
            return FabriekClient.from_httpx(self.api, token, backoff=0)

        obj = CliContext(client_factory=client_factory, settings_factory=lambda: self.settings)
        argv = [*(["--token", token] if token else []), *args]
        # The developer's own FABRIEK_* must not leak into a test.
        env = {"FABRIEK_TOKEN": None, "FABRIEK_SERVER": None, "FABRIEK_DEBUG": None}
        return CliRunner().invoke(app, argv, obj=obj, env=env, input=input)

    def json(self, *args: str, token: str | None = None) -> Any:
        """Run with --json, require exit 0, and return the parsed output."""
        result = self(*args, "--json", token=token)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def cli(api: TestClient, settings: Settings) -> Cli:
    return Cli(api, settings)
