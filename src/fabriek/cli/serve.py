"""`fabriek serve`: migrate, then run the API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from fabriek.cli import output as out
from fabriek.settings import Settings


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="API processes; they share nothing but the database.")] = 1,
    migrate: Annotated[bool, typer.Option(
        "--migrate/--no-migrate", help="Upgrade the schema before starting.")] = True,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log",
        help="Log every request (costs throughput; the audit log records every change).")]
    = False,
) -> None:
    """Run the REST API (and its OpenAPI docs at /docs).

    Configuration comes from FABRIEK_* environment variables, which every worker inherits.

    Example: FABRIEK_DATA_DIR=/srv/fabriek fabriek serve --host 0.0.0.0 --port 8000 --workers 4
    """
    import uvicorn  # imported here, like the database modules: other commands start faster

    from fabriek.access.policy_files import AccessPolicy
    from fabriek.cli import workers as workers_
    from fabriek.cli.inprocess import safe_url, upgrade_schema

    # Settings from the environment, not the CLI context: the workers build theirs the same way,
    # so the database migrated here is the one they serve.
    settings = Settings()
    # Fail here, with one clear line, rather than inside uvicorn's import of the app.
    AccessPolicy.load(settings.policy_dir)
    if migrate:
        upgrade_schema(settings)
    out.note(f"database: {safe_url(settings)}{' (migrated)' if migrate else ''}")
    out.note(f"Fabriek API on http://{host}:{port}/api/v1 — OpenAPI docs at /docs")
    options = {"log_level": settings.log_level.lower(), "access_log": access_log}
    if workers == 1:
        uvicorn.run(workers_.APP, factory=True, host=host, port=port, **options)
        return
    # A listening socket per process (see fabriek.cli.workers), not uvicorn's shared one.
    if not workers_.port_is_free(host, port):
        out.error(f"{host}:{port} is already in use", "stop what listens there, or choose "
                  "another --port")
        raise typer.Exit(1)
    raise typer.Exit(workers_.run(host, port, workers, **options))
