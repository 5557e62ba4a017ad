"""Engine and transactions. One unit of work per request, command or task, opened at the edge."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
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
        database = make_url(url).database
        on_disk = bool(database) and database != ":memory:" and not database.startswith("file:")
        _configure_sqlite(engine, database if on_disk else None)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


class FairLock:
    """A mutex that hands itself to waiters in arrival order (threading.Lock does not)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            baton = threading.Lock()
            baton.acquire()
            self._waiters.append(baton)
        if baton.acquire(timeout=timeout):
            return True
        with self._mutex:
            try:
                self._waiters.remove(baton)
            except ValueError:  # handed over between the timeout and here: it is ours
                return True
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # still held: passed on, not freed
            else:
                self._held = False


def _poll(fd: int, deadline: float, interval: float) -> bool:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)


class WriterLock:
    """One SQLite writer at a time, first come first served within a process and taking turns
    between processes.

    Within the process a FairLock queues the writers. Between processes two lock files: a gate
    (polled every millisecond) and the lock itself, which only the gate's holder waits for
    (polled every 0.1 ms), letting the gate go once it has it. A process that has just
    committed must pass the gate again, so it cannot take the lock from under the one waiting
    there: the processes take turns. With the lock file alone, the writer that had just
    committed took it again before the other process's sleeping poller woke, and one process
    wrote while the other's writers queued (BENCHMARKS.md). Both waits end at the deadline
    (False: the caller reports the database as locked); a process that dies lets both go.
    """

    def __init__(self, path: str | None) -> None:
        self._fair = FairLock()
        self._path = path
        self._fds: tuple[int, int] | None = None
        self._pid = 0

    def _files(self) -> tuple[int, int]:
        if self._fds is None or self._pid != os.getpid():  # a forked child opens its own
            assert self._path is not None
            self._fds = (os.open(f"{self._path}.gate", os.O_RDWR | os.O_CREAT, 0o600),
                         os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
            self._pid = os.getpid()
        return self._fds

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._fair.acquire(timeout):
            return False
        if self._path is None:
            return True
        try:
            gate, lock = self._files()
            if not _poll(gate, deadline, 0.001):
                self._fair.release()
                return False
            try:
                got = _poll(lock, deadline, 0.0001)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
            if not got:
                self._fair.release()
            return got
        except BaseException:
            self._fair.release()
            raise

    def release(self) -> None:
        try:
            if self._path is not None and self._fds is not None:
                fcntl.flock(self._fds[1], fcntl.LOCK_UN)
        finally:
            self._fair.release()


_SQLITE_BUSY_SECONDS = 30
_HOLDS_WRITE_LOCK = "fabriek_holds_write_lock"


def _configure_sqlite(engine: Engine, db_path: str | None) -> None:
    # SQLite has one writer at a time. Writers waiting in BEGIN IMMEDIATE poll with growing
    # sleeps (1, 2, 5 ... 100 ms), so newcomers overtake old waiters and the tail latency runs
    # into seconds. Writers therefore queue first on a WriterLock (fair within the process,
    # a lock file between processes), taken just before BEGIN IMMEDIATE and given back right
    # after COMMIT or ROLLBACK. Processes that do not take it (other tools) still meet
    # SQLite's own lock and busy timeout.
    write_lock = WriterLock(f"{db_path}.writer-lock" if db_path else None)

    def _release(info: dict) -> None:  # type: ignore[type-arg]
        if info.pop(_HOLDS_WRITE_LOCK, False):
            write_lock.release()

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
            return
        if not write_lock.acquire(timeout=_SQLITE_BUSY_SECONDS):
            raise sqlite3.OperationalError("database is locked (waited for other writers)")
        conn.info[_HOLDS_WRITE_LOCK] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    # The engine's commit/rollback events run before the DBAPI call: finish the transaction
    # here, then free the lock. SQLAlchemy's own COMMIT/ROLLBACK that follows is a no-op on a
    # connection without an open transaction. A failed COMMIT keeps the lock until the rollback.
    @event.listens_for(engine, "commit")
    def _on_commit(conn) -> None:  # type: ignore[no-untyped-def]
        if conn.info.get(_HOLDS_WRITE_LOCK):
            conn.connection.dbapi_connection.commit()
            _release(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn) -> None:  # type: ignore[no-untyped-def]
        if conn.info.get(_HOLDS_WRITE_LOCK):
            try:
                conn.connection.dbapi_connection.rollback()
            finally:
                _release(conn.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        # A connection that comes back still in a write transaction (should not happen): the
        # pool rolls it back on return; make sure the lock goes with it.
        if record.info.get(_HOLDS_WRITE_LOCK):
            dbapi_conn.rollback()
            _release(record.info)


class Database:
    """The engine and two session factories: read-write and read-only."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.resolved_database_url()
        self.engine = make_engine(self.url, pool_size=settings.db_pool_size)
        self._rw = sessionmaker(self.engine, expire_on_commit=False)
        postgresql = self.engine.dialect.name == "postgresql"
        # On PostgreSQL a read-only session is a READ ONLY transaction (psycopg sends BEGIN
        # READ ONLY; any write fails) and ends with COMMIT, which for it changes nothing. Not
        # with ROLLBACK: psycopg forgets every statement it has prepared on the connection at
        # each ROLLBACK (and deallocates them on the server), so with reads ending that way no
        # statement stayed prepared and every statement was parsed and planned anew.
        self._commit_reads = postgresql
        readonly = {"fabriek_readonly": True} | ({"postgresql_readonly": True} if postgresql
                                                 else {})
        self._ro = sessionmaker(self.engine.execution_options(**readonly),
                                expire_on_commit=False)
        # One-statement reads (the token lookup): no BEGIN/ROLLBACK round trips on PostgreSQL.
        self._auth = self._ro if self.engine.dialect.name == "sqlite" else sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
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
            if readonly:
                self.end_read(session)
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def end_read(self, session: Session) -> None:
        """Before closing a read-only session that succeeded: COMMIT its transaction where
        that is how reads end (PostgreSQL); elsewhere closing it rolls back. Its objects stay
        readable, detached."""
        if self._commit_reads and session.in_transaction():
            session.commit()

    def session(self, *, readonly: bool = False) -> Session:
        return (self._ro if readonly else self._rw)()

    def auth_session(self) -> Session:
        """A session for one read statement; autocommit where the backend allows it."""
        return self._auth()

    def dispose(self) -> None:
        self.engine.dispose()
