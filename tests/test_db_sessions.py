"""Database sessions. Read-only units of work: on PostgreSQL a READ ONLY transaction that ends
with COMMIT, so a write in one fails and the statements psycopg prepared on the connection are
kept. The pool: it outlives a PostgreSQL restart."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import InternalError

from fabriek.access.models import Proposal
from fabriek.db.migrate import upgrade
from fabriek.db.session import Database
from fabriek.identity.models import User
from fabriek.identity.principal import SYSTEM
from fabriek.identity.service import create_user
from fabriek.settings import Settings
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration


def test_a_read_only_unit_of_work_reads(database: Database):
    with database.unit_of_work() as s:
        create_user(s, SYSTEM, email="reader@lumen.example", roles=[])
    with database.unit_of_work(readonly=True) as s:
        user = s.execute(select(User).where(User.email == "reader@lumen.example")).scalar_one()
    assert user.email == "reader@lumen.example"  # still readable, detached


def test_a_write_in_a_read_only_unit_of_work_fails_and_changes_nothing(database: Database):
    if database.dialect != "postgresql":
        pytest.skip("SQLite has no read-only transactions; its read sessions roll back")
    with database.unit_of_work() as s:
        create_user(s, SYSTEM, email="reader@lumen.example", roles=[])
    with (pytest.raises(InternalError, match="read-only transaction"),
          database.unit_of_work(readonly=True) as s):
        s.execute(update(User).values(display_name="changed"))
    with database.unit_of_work(readonly=True) as s:
        assert s.execute(select(User.display_name)).scalar_one() != "changed"


def test_prepared_statements_outlive_read_only_units_of_work(database: Database):
    """psycopg forgets its prepared statements at every ROLLBACK; read-only units of work
    commit instead, so a statement run often is parsed and planned once per connection."""
    if database.dialect != "postgresql":
        pytest.skip("prepared statements are psycopg's")
    one = Database(Settings(database_url=database.url, db_pool_size=1))
    try:
        query = select(Proposal.id).where(Proposal.reference == "nothing-like-it")
        for _ in range(8):  # psycopg prepares a statement at its sixth run
            with one.unit_of_work(readonly=True) as s:
                assert s.execute(query).first() is None
            with one.unit_of_work() as s:  # a write unit in between, as in a request
                s.execute(text("SELECT 1"))
        with one.unit_of_work(readonly=True) as s:
            prepared = s.execute(text("SELECT statement FROM pg_prepared_statements")).scalars()
            assert any("proposals.reference" in p for p in prepared)
    finally:
        one.dispose()


def test_the_pool_survives_a_postgresql_restart(postgres_server):
    """Every pooled connection is pinged before use (pool_pre_ping), so after the database
    restarted the next unit of work gets a new connection instead of failing."""
    if postgres_server is None:
        pytest.skip("PostgreSQL is not installed here (scripts/test.sh installs it)")
    server = PostgresServer.start(postgres_server.pg_bin)  # its own: this one is restarted
    db = Database(Settings(database_url=server.create_database("restarts")))
    try:
        upgrade(db.engine)
        with db.unit_of_work() as s:
            create_user(s, SYSTEM, email="kept@lumen.example", roles=[])
        for i in range(2):
            server.restart()
            with db.unit_of_work(readonly=True) as s:
                emails = set(s.execute(select(User.email)).scalars())
            assert emails == {"kept@lumen.example"} | {f"after{j}@lumen.example" for j in range(i)}
            with db.unit_of_work() as s:
                create_user(s, SYSTEM, email=f"after{i}@lumen.example", roles=[])
    finally:
        db.dispose()
        server.stop()
