"""Migrations build the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fabriek.db.migrate import current, upgrade
from fabriek.db.registry import metadata

pytestmark = pytest.mark.integration


def test_migrations_at_head_match_the_models(database):
    upgrade(database.engine)  # a second upgrade is a no-op
    assert current(database.engine) is not None
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                metadata)
    assert diff == []
