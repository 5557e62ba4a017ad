"""Engine and transactions. One unit of work per request, command or task, opened at the edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from fabriek.settings import Settings


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=10, connect_args={"timeout": 30}
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Take transaction control from pysqlite so we can BEGIN IMMEDIATE below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # A write transaction takes the write lock up front: a deferred one that reads and then
        # writes fails with SQLITE_BUSY when another writer committed in between.
        if conn.get_execution_options().get("fabriek_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine and two session factories: read-write and read-only."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.resolved_database_url()
        self.engine = make_engine(self.url, pool_size=settings.db_pool_size)
        self._rw = sessionmaker(self.engine, expire_on_commit=False)
        self._ro = sessionmaker(
            self.engine.execution_options(fabriek_readonly=True), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        session = (self._ro if readonly else self._rw)()
        try:
            yield session
            if not readonly:
                session.commit()
            # A read-only session is just closed: its objects stay readable, detached.
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def session(self, *, readonly: bool = False) -> Session:
        return (self._ro if readonly else self._rw)()

    def dispose(self) -> None:
        self.engine.dispose()
