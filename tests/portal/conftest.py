"""Portal fixtures: the application over the test database, and a browser-like client per
person (own cookie jar, signed in through a real session row)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fabriek.access.service import AccessConfig
from fabriek.api.app import create_app
from fabriek.db.session import Database
from fabriek.settings import Settings
from tests.conftest import Person
from tests.portal.helpers import signed_in_client


@pytest.fixture
def portal_app(database: Database, access: AccessConfig, tmp_path: Path) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path), database=database, access=access,
                      run_reconciler=False)


@pytest.fixture
def anonymous(portal_app: FastAPI) -> Iterator[TestClient]:
    # https: the session and CSRF cookies are Secure, and a client keeps them only over TLS.
    with TestClient(portal_app, base_url="https://testserver",
                    raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def browser_for(portal_app: FastAPI, database: Database
                ) -> Iterator[Callable[[Person], TestClient]]:
    """browser_for(person) -> a client signed in as that person (one per person)."""
    opened: list[TestClient] = []

    def make(person: Person) -> TestClient:
        client = signed_in_client(portal_app, database, person)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
