"""Shared fixtures: a clean database per test on SQLite and on PostgreSQL, an API client, people.

Every database test runs on both backends (`backend` is parametrised). PostgreSQL is a
throw-away server started once per session; with FABRIEK_REQUIRE_POSTGRES=1 (as the test script
sets) a missing server fails the run instead of skipping those tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from fabriek.access.policy_files import AccessPolicy
from fabriek.access.service import AccessConfig
from fabriek.api.app import create_app
from fabriek.audit.chain import GENESIS
from fabriek.compliance.gate import with_ai_act
from fabriek.db.migrate import upgrade
from fabriek.db.registry import metadata
from fabriek.db.session import Database
from fabriek.federation.domain import CapacityBasis
from fabriek.federation.models import Partition
from fabriek.federation.referrals import FederationConfig
from fabriek.federation.service import sync_catalogue
from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.principal import SYSTEM
from fabriek.settings import Settings
from tests.support.jobs import stop_supervisors_under
from tests.support.postgres import PostgresServer, find_pg_bin

BACKENDS = ["sqlite", "postgresql"]
LOCAL_TEST_NODES = 64


@pytest.fixture(scope="session", autouse=True)
def _no_local_job_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    stop_supervisors_under(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def access_policy() -> AccessPolicy:
    return AccessPolicy.load()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    pg_bin = find_pg_bin()
    if pg_bin is None:
        if os.environ.get("FABRIEK_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL server binaries not found; scripts/test.sh installs them")
        yield None
        return
    server = PostgresServer.start(pg_bin)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _databases(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer | None
               ) -> Iterator[dict[str, Database]]:
    made: dict[str, Database] = {}
    yield made
    for db in made.values():
        db.dispose()


def _database(backend: str, dbs: dict[str, Database], tmp: Path,
              server: PostgresServer | None) -> Database:
    if backend not in dbs:
        if backend == "sqlite":
            settings = Settings(data_dir=tmp)
        else:
            if server is None:
                pytest.skip("PostgreSQL is not installed here (scripts/test.sh installs it)")
            settings = Settings(database_url=server.create_database("fabriek_test"))
        db = Database(settings)
        upgrade(db.engine)
        dbs[backend] = db
    return dbs[backend]


def _wipe(db: Database) -> None:
    kept = {"audit_head", "installation"}  # one row each, made by the migrations
    tables = [t.name for t in reversed(metadata.sorted_tables) if t.name not in kept]
    with db.engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_head SET seq = 0, hash = '{GENESIS}'"))
        if db.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database(backend: str, _databases: dict[str, Database],
             tmp_path_factory: pytest.TempPathFactory,
             postgres_server: PostgresServer | None) -> Iterator[Database]:
    db = _database(backend, _databases, tmp_path_factory.mktemp(backend), postgres_server)
    _wipe(db)
    with db.unit_of_work() as session:  # as `fabriek db upgrade` and `serve` do
        sync_catalogue(session, FederationConfig.default().catalogue)
        # The embedded factory is one 4-GPU node; the access tests ask for Fast Lane and
        # Large Scale sizes no such machine holds, so its operator "adds nodes" (256 GPUs).
        # Capacity tests set their own figures.
        session.execute(update(Partition).where(
            Partition.factory_id == "local", Partition.id == "gpu").values(
            nodes=LOCAL_TEST_NODES, capacity_basis=CapacityBasis.operator))
    yield db


@pytest.fixture
def access(access_policy: AccessPolicy) -> AccessConfig:
    return with_ai_act(AccessConfig(policy=access_policy))


@pytest.fixture
def app_client(database: Database, access: AccessConfig, tmp_path: Path
               ) -> Iterator[TestClient]:
    # The reconciler is driven explicitly by the compute tests; here it stays off.
    app = create_app(Settings(data_dir=tmp_path), database=database, access=access,
                     run_reconciler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Person:
    user_id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_person(database: Database):  # type: ignore[no-untyped-def]
    """make_person("a@x.eu", Role.applicant) -> Person with a working API token."""

    def make(email: str, *roles: Role) -> Person:
        with database.unit_of_work() as session:
            user = identity.create_user(session, SYSTEM, email=email,
                                        roles=list(roles) or [Role.applicant])
            token = identity.issue_token(session, SYSTEM, user)
            return Person(user.id, user.email, token)

    return make


@pytest.fixture
def officer(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("officer@eurohpc.example", Role.access_officer)
