"""The FastAPI application: one factory, state built from Settings, routes per capability."""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fabriek import __version__
from fabriek.access.service import AccessConfig
from fabriek.api import problems
from fabriek.api.routes import (
    act,
    act_ask,
    allocations,
    datalab_services,
    factories,
    jobs,
    meta,
    observatory,
    organisations,
    proposals,
)
from fabriek.api.routes import datalab as datalab_routes
from fabriek.compute.reconciler import Reconciler
from fabriek.compute.registry import Executors, build_executors
from fabriek.datalab.runner import RunnerConfig, ServiceRunner
from fabriek.datalab.service import DatalabConfig
from fabriek.db.installation import installation_uid
from fabriek.db.session import Database
from fabriek.federation.catalogue import Catalogue
from fabriek.federation.service import federation_for_executors
from fabriek.observatory.cache import FigureCache
from fabriek.observatory.schemas import ObservatoryRead
from fabriek.portal import app as portal
from fabriek.settings import Settings
from fabriek.wiring import access_config


def create_app(settings: Settings | None = None, *, database: Database | None = None,
               access: AccessConfig | None = None, executors: Executors | None = None,
               catalogue: Catalogue | None = None, run_reconciler: bool | None = None,
               datalab: DatalabConfig | None = None, freeze_heap: bool = False) -> FastAPI:
    """The API. With `run_reconciler` (default: settings.reconciler) a background thread keeps
    jobs and schedulers in step; several processes may each run one (rows are leased).

    `freeze_heap` (a server process, not an app made in a test): once started, the objects
    alive then are left out of the garbage collector's full passes (gc.freeze). The policy
    files, the catalogue, the mappers and the routes live as long as the process; scanning
    them made every full pass stop the process for 50–175 ms, and one that held SQLite's
    write lock stopped every writer (BENCHMARKS.md).
    """
    settings = settings or Settings()
    sys.setswitchinterval(settings.switch_interval_ms / 1000)  # see Settings
    db = database or Database(settings)
    owns_db = database is None
    access = access or access_config(settings)
    catalogue = catalogue or access.federation.catalogue
    if executors is None:
        with db.session(readonly=True) as session:
            federation = federation_for_executors(session, catalogue)
        executors = build_executors(settings, federation, namespace=installation_uid(db))
    datalab = datalab or DatalabConfig.from_settings(settings)
    reconciler = Reconciler(db, executors, access, datalab=datalab)
    if run_reconciler is None:
        run_reconciler = settings.reconciler
    # The data-lab services run beside the reconciler (tests that drive it drive these too).
    services = ServiceRunner(db, datalab, RunnerConfig.from_settings(settings))
    run_services = run_reconciler and settings.datalab_services

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        stop = threading.Event()
        thread = None
        if run_reconciler:
            thread = threading.Thread(target=reconciler.run_forever, name="reconciler",
                                      args=(stop, settings.reconcile_interval_seconds),
                                      daemon=True)
            thread.start()
        service_thread = None
        if run_services:
            service_thread = threading.Thread(target=services.run_forever,
                                              name="datalab-services", args=(stop,),
                                              daemon=True)
            service_thread.start()
        if freeze_heap:
            gc.collect()
            gc.freeze()
        yield
        stop.set()
        reconciler.wake()
        services.wake()
        if thread is not None:
            thread.join(timeout=10)
        if service_thread is not None:
            service_thread.join(timeout=10)
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
    app.state.write_slots = weakref.WeakKeyDictionary()  # see deps._write_slots
    app.state.db = db
    app.state.access = access
    app.state.executors = executors
    app.state.catalogue = catalogue
    app.state.reconciler = reconciler if run_reconciler else None
    # The data labs: policy file, blob store, upload limit.
    app.state.datalab = datalab
    # The worker of the data-lab services; its thread runs only with `run_services`.
    app.state.datalab_runner = services
    app.state.observatory = FigureCache[ObservatoryRead](settings.observatory_cache_seconds)
    problems.install(app)
    for module in (meta, organisations, proposals, allocations, jobs, factories, act, act_ask,
                   observatory, datalab_routes, datalab_services):
        app.include_router(module.router)
    portal.install(app, settings)
    return app


def serve_app() -> FastAPI:
    """The application of a `fabriek serve` process (uvicorn's factory): settings from the
    environment, its heap frozen once started."""
    return create_app(freeze_heap=True)
