"""What the operator commands do in-process on the server host, straight on the database.

Kept apart, and imported only inside those commands, because SQLAlchemy and Alembic take most
of a second to import and the user commands (API clients) need neither.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypedDict

from sqlalchemy.engine import make_url

from fabriek.audit.schemas import ChainReport
from fabriek.audit.service import verify_chain
from fabriek.db import migrate
from fabriek.db.session import Database
from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.principal import SYSTEM
from fabriek.settings import Settings


class IssuedToken(TypedDict):
    user_id: int
    email: str
    roles: list[str]
    token: str


def safe_url(settings: Settings) -> str:
    """The database URL without its password, fit for logs."""
    return make_url(settings.resolved_database_url()).render_as_string(hide_password=True)


def seed_catalogue(db: Database, settings: Settings) -> None:
    """Bring the factories and partitions in line with the catalogue (idempotent; never
    overwrites capacity an operator set), and publish the data labs' seed datasets (once).
    Runs after every upgrade to head."""
    from fabriek.datalab.seed import seed_datasets
    from fabriek.datalab.service import DatalabConfig
    from fabriek.federation.catalogue import load_catalogue
    from fabriek.federation.service import sync_catalogue

    catalogue = load_catalogue(settings.policy_dir)
    with db.unit_of_work() as session:
        sync_catalogue(session, catalogue)
    # The data labs' open datasets (after the factories: a dataset may name its factory).
    with db.unit_of_work() as session:
        seed_datasets(session, DatalabConfig.from_settings(settings))


@contextmanager
def open_database(settings: Settings, *, upgrade: bool) -> Iterator[Database]:
    db = Database(settings)
    try:
        if upgrade:
            migrate.upgrade(db.engine)  # a no-op at head; makes a first bootstrap one command
            seed_catalogue(db, settings)
        yield db
    finally:
        db.dispose()


def upgrade_schema(settings: Settings, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the configured database (and, at head, seed the catalogue); returns the
    revisions before and after."""
    with open_database(settings, upgrade=False) as db:
        before = migrate.current(db.engine)
        migrate.upgrade(db.engine, revision)
        if revision == "head":
            seed_catalogue(db, settings)
        return before, migrate.current(db.engine)


def create_users(settings: Settings, people: Sequence[tuple[str, str, Sequence[Role]]],
                 *, token_name: str) -> list[IssuedToken]:
    """Create (email, display name, roles) people with a token each, in one transaction, as
    SYSTEM; the schema is upgraded first. Tokens are returned only after the commit."""
    with open_database(settings, upgrade=True) as db, db.unit_of_work() as session:
        issued = []
        for email, name, roles in people:
            chosen = sorted(set(roles or [Role.applicant]))
            user = identity.create_user(session, SYSTEM, email=email, display_name=name,
                                        roles=chosen)
            token = identity.issue_token(session, SYSTEM, user, name=token_name)
            issued.append(IssuedToken(user_id=user.id, email=user.email,
                                      roles=[r.value for r in chosen], token=token))
    return issued


def issue_token(settings: Settings, email: str, *, token_name: str) -> IssuedToken:
    with open_database(settings, upgrade=False) as db, db.unit_of_work() as session:
        user = identity.user_by_email(session, email)
        token = identity.issue_token(session, SYSTEM, user, name=token_name)
        result = IssuedToken(user_id=user.id, email=user.email,
                             roles=[r.value for r in identity.roles_of(session, user.id)],
                             token=token)
    return result


def set_password(settings: Settings, email: str, password: str) -> int:
    """Give a person a password for the portal's sign-in; returns their id."""
    from fabriek.identity.web import set_password as set_hash

    with open_database(settings, upgrade=False) as db, db.unit_of_work() as session:
        user = identity.user_by_email(session, email)
        set_hash(session, SYSTEM, user, password)
        return user.id


def verify_audit_chain(settings: Settings) -> ChainReport:
    with open_database(settings, upgrade=False) as db, \
            db.unit_of_work(readonly=True) as session:
        return verify_chain(session)
