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


def test_0005_gives_existing_allocations_a_home_site_and_fills_the_ledger(tmp_path):
    """An allocation made before the federation keeps its partition, now as its home site,
    and what it holds is in the capacity ledger, spread over its days."""
    from datetime import date

    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0004")
    with engine.begin() as c:
        c.execute(text("INSERT INTO users (id, email, display_name, is_active, created_at) "
                       "VALUES (1, 'a@x.eu', '', 1, '2026-11-01 00:00:00')"))
        c.execute(text(
            "INSERT INTO organisations (id, legal_name, country, registration_id, kind, "
            "public_control, created_by_id, created_at) VALUES (1, 'Lumen', 'NL', 'K1', "
            "'enterprise', 0, 1, '2026-11-01 00:00:00')"))
        c.execute(text(
            "INSERT INTO proposals (id, organisation_id, created_by_id, mode, state, title, "
            "abstract, sector, gpu_hours, storage_tb, duration_months, start_on, datasets, "
            "intended_system, inference_share, civilian_use, confidential, decision_reasons, "
            "policy_versions, version, created_at) VALUES (1, 1, 1, 'playground', 'accepted', "
            "'t', 'a', 'health', 1400, 0, 1, '2026-11-23', '[]', 's', 0, 1, 0, '', '{}', 1, "
            "'2026-11-01 00:00:00')"))
        # 1,400 GPU-hours over 14 days from a Monday: 700 in each of two weeks.
        c.execute(text(
            "INSERT INTO allocations (id, proposal_id, organisation_id, factory, partition, "
            "gpu_hours, gpu_hours_used, storage_tb, start_on, end_on, priority_class, state, "
            "provisioned_at, created_at) VALUES (1, 1, 1, 'local', 'gpu', 1400, 0, 0, "
            "'2026-11-23', '2026-12-06', 'standard', 'active', '2026-11-23 10:00:00', "
            "'2026-11-01 00:00:00')"))
    upgrade(engine)
    with engine.connect() as c:
        site = c.execute(text("SELECT factory, partition, gpu_hours_committed, home, "
                              "provisioned_at FROM allocation_sites")).one()
        ledger = c.execute(text("SELECT week, committed_gpu_hours FROM capacity_ledger "
                                "ORDER BY week")).all()
    engine.dispose()
    assert site[:4] == ("local", "gpu", 1400.0, 1) and site[4] is not None
    assert [(str(w), h) for w, h in ledger] == [(str(date(2026, 11, 23)), 700.0),
                                                (str(date(2026, 11, 30)), 700.0)]
