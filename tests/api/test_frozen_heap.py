"""A server process leaves the objects alive once it has started out of the garbage
collector's full passes (gc.freeze); an app made anywhere else does not."""

from __future__ import annotations

import gc

import pytest
from fastapi.testclient import TestClient

from fabriek.api.app import create_app
from fabriek.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process collects as before


@pytest.mark.parametrize("freeze", [True, False])
def test_the_heap_is_frozen_once_a_server_has_started(database, access, tmp_path, unfrozen,
                                                       freeze: bool):
    app = create_app(Settings(data_dir=tmp_path), database=database, access=access,
                     run_reconciler=False, freeze_heap=freeze)
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert client.get("/api/v1/health").status_code == 200
        frozen = gc.get_freeze_count()
    if freeze:
        # The app and everything it loaded at start-up are among them: the collector's
        # generations (what gc.get_objects lists) no longer hold it.
        assert frozen > 10_000
        assert not any(o is app for o in gc.get_objects())
    else:
        assert frozen == 0
