"""The federation kept in memory (current_federation) follows every write to its tables, by any
path: the database's triggers move installation.federation_revision (migration 0010)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from fabriek.federation.models import Partition
from fabriek.federation.service import current_federation

pytestmark = pytest.mark.integration


def _nodes(database, factory: str = "local", partition: str = "gpu") -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work(readonly=True) as s:
        part = current_federation(s).partition(factory, partition)
        assert part is not None
        return part.nodes


def test_unchanged_federation_is_served_from_memory(database):
    with database.unit_of_work(readonly=True) as s:
        first = current_federation(s)
    with database.unit_of_work(readonly=True) as s:
        assert current_federation(s) is first


def test_read_only_and_write_sessions_share_it(database):
    # A submission ranks in a read-only session and reuses that ranking in its write session
    # only while both see the same federation object.
    with database.unit_of_work(readonly=True) as s:
        read = current_federation(s)
    with database.unit_of_work() as s:
        assert current_federation(s) is read


def test_a_write_in_plain_sql_is_seen_by_the_next_reader(database):
    before = _nodes(database)
    with database.engine.begin() as conn:  # not through the services
        conn.execute(text("UPDATE partitions SET nodes = nodes + 7 "
                          "WHERE factory_id = 'local' AND id = 'gpu'"))
    assert _nodes(database) == before + 7


def test_a_rolled_back_write_is_never_served(database):
    before = _nodes(database)
    with database.session() as s:  # a transaction reads its own change, then rolls it back
        s.execute(update(Partition).where(Partition.factory_id == "local",
                                          Partition.id == "gpu").values(nodes=before + 100))
        assert current_federation(s).partition("local", "gpu").nodes == before + 100
        s.rollback()
    # The next committed write gets a stamp of its own: a counter would hand it the stamp of
    # the rolled-back change, whose federation this process still holds.
    with database.unit_of_work() as s:
        s.execute(update(Partition).where(Partition.factory_id == "local",
                                          Partition.id == "gpu").values(nodes=before + 1))
    assert _nodes(database) == before + 1
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE partitions SET nodes = :n WHERE factory_id = 'local' AND "
                          "id = 'gpu'"), {"n": before})
    assert _nodes(database) == before


def test_a_maintenance_window_is_seen_at_once(database):
    start = datetime.now(UTC) + timedelta(days=1)
    with database.unit_of_work(readonly=True) as s:
        assert not [w for w in current_federation(s).maintenance if w.factory_id == "local"]
    with database.engine.begin() as conn:
        conn.execute(text("INSERT INTO maintenance_windows (factory_id, partition_id, starts_at, "
                          "ends_at, reason, created_at) VALUES ('local', 'gpu', :a, :b, "
                          "'cooling', :a)"), {"a": start, "b": start + timedelta(hours=4)})
    with database.unit_of_work(readonly=True) as s:
        [window] = [w for w in current_federation(s).maintenance if w.factory_id == "local"]
    assert window.reason == "cooling"
