"""The FastAPI application: one factory, state built from Settings, routes per capability."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from fabriek import __version__
from fabriek.access.policy_files import AccessPolicy
from fabriek.access.service import AccessConfig
from fabriek.api import problems
from fabriek.api.routes import allocations, meta, organisations, proposals
from fabriek.db.session import Database
from fabriek.settings import Settings


def create_app(settings: Settings | None = None, *, database: Database | None = None,
               access: AccessConfig | None = None) -> FastAPI:
    settings = settings or Settings()
    db = database or Database(settings)
    owns_db = database is None

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        if owns_db:
            db.dispose()

    app = FastAPI(
        title="Fabriek API",
        version=__version__,
        description="The one-stop shop for Europe's AI Factories: organisations, eligibility, "
                    "access modes, proposals, reviews and allocations. Errors are RFC 9457 "
                    "problem+json; creating POSTs honour `Idempotency-Key`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.access = access or AccessConfig(policy=AccessPolicy.load(settings.policy_dir))
    problems.install(app)
    for module in (meta, organisations, proposals, allocations):
        app.include_router(module.router)
    return app
