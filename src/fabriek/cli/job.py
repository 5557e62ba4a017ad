"""`fabriek job` and `fabriek usage`: run jobs on an allocation and watch their budget."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fabriek.cli import output as out
from fabriek.cli import views
from fabriek.cli.context import client
from fabriek.cli.options import AllOpt, JsonOpt, LimitOpt

app = typer.Typer(help="Jobs: submit, watch, read logs, cancel.", no_args_is_help=True)


def _env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r}: use NAME=VALUE", param_hint="--env")
        env[name] = value
    return env


@app.command(context_settings={"allow_interspersed_args": False})
def submit(
    ctx: typer.Context,
    allocation: Annotated[int, typer.Option("--allocation", "-a", help="Allocation to charge.")],
    name: Annotated[str, typer.Option("--name", help="Job name (letters, digits, . _ -).")],
    time_limit: Annotated[int, typer.Option("--time-limit", min=1,
                                            help="Minutes; the job is stopped after it.")],
    command: Annotated[list[str] | None, typer.Argument(
        help="Program and arguments (after --), run without a shell.")] = None,
    script: Annotated[Path | None, typer.Option(
        "--script", exists=True, dir_okay=False, help="A bash script to run instead.")] = None,
    gpus: Annotated[int, typer.Option("--gpus", min=0)] = 1,
    nodes: Annotated[int, typer.Option("--nodes", min=1)] = 1,
    cpus: Annotated[int, typer.Option("--cpus", min=1)] = 1,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=64)] = 4096,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Container image.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model it trains (AI Act ledger).")]
    = None,
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", help="A data-lab dataset to place next to the job, read-only and "
                          "verified, under datasets/<name>/ ($FABRIEK_DATASETS_DIR); "
                          "repeat for more. Your project needs access to it.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it ends; print its output.")]
    = False,
    json: JsonOpt = False,
) -> None:
    """Submit a job; refused with the numbers when its worst case (GPUs × time limit) does not
    fit in what is left of the allocation.

    Example: fabriek job submit -a 1 --name smoke --gpus 1 --time-limit 5 -- python3 -c "print(42)"
    """
    spec = {"allocation_id": allocation, "name": name, "time_limit_minutes": time_limit,
            "gpus": gpus, "nodes": nodes, "cpus": cpus, "memory_mb": memory_mb,
            "env": _env(env or []), "image": image, "model": model, "datasets": dataset or []}
    if script is not None:
        spec["script"] = script.read_text(encoding="utf-8")
    elif command:
        spec["command"] = command
    c = client(ctx)
    job = c.jobs.submit(spec)
    for warning in job.warnings:  # AI Act compute ledger; on stderr so --json stays clean
        out.stderr().print(f"[bold yellow]AI Act:[/] {escape(warning)}")
    if not wait:
        out.emit(job, json, views.job)
        return
    for chunk in c.jobs.follow(job.id):
        sys.stdout.write(chunk)
    final = c.jobs.get(job.id)
    out.emit(final, json, views.job)
    if final.state.value != "completed":
        raise typer.Exit(1)


@app.command("list")
def list_(ctx: typer.Context,
          state: Annotated[str | None, typer.Option("--state")] = None,
          allocation: Annotated[int | None, typer.Option("--allocation", "-a")] = None,
          limit: LimitOpt = 50, all: AllOpt = False, json: JsonOpt = False) -> None:
    """Your organisations' jobs.

    Example: fabriek job list --state running
    """
    out.emit(client(ctx).jobs.list(state=state, allocation_id=allocation, limit=limit, all=all),
             json, views.jobs)


@app.command()
def show(ctx: typer.Context, job_id: Annotated[int, typer.Argument()],
         json: JsonOpt = False) -> None:
    """A job: state, times, exit code, GPU-hours, pre-emptions.

    Example: fabriek job show 7
    """
    out.emit(client(ctx).jobs.get(job_id), json, views.job)


@app.command()
def logs(ctx: typer.Context, job_id: Annotated[int, typer.Argument()],
         stderr: Annotated[bool, typer.Option("--stderr", help="Standard error instead.")]
         = False,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")]
         = False) -> None:
    """A job's output; with --follow it streams until the job ends.

    Example: fabriek job logs 7 --follow
    """
    stream = "stderr" if stderr else "stdout"
    c = client(ctx)
    if follow:
        for chunk in c.jobs.follow(job_id, stream=stream):
            sys.stdout.write(chunk)
            sys.stdout.flush()
        return
    text, _ = c.jobs.logs(job_id, stream=stream)
    sys.stdout.write(text)


@app.command()
def cancel(ctx: typer.Context, job_id: Annotated[int, typer.Argument()],
           json: JsonOpt = False) -> None:
    """Stop a job and everything it started.

    Example: fabriek job cancel 7
    """
    out.emit(client(ctx).jobs.cancel(job_id), json, views.job)


def usage(ctx: typer.Context,
          allocation: Annotated[int | None, typer.Argument(
              help="Allocation id; all of yours when left out.")] = None,
          json: JsonOpt = False) -> None:
    """GPU-hours granted, used, held by active jobs and left, with warnings.

    Example: fabriek usage 1
    """
    c = client(ctx)
    ids = [allocation] if allocation is not None else [a.id for a in c.allocations.list(all=True)]
    items = [c.jobs.usage(i) for i in ids]
    if json:
        out.print_json(items)
        return
    for item in items:
        views.usage(item)


def worker(interval: Annotated[float, typer.Option("--interval", min=0.1)] = 1.0,
           once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False
           ) -> None:
    """Run the job reconciler in its own process (beside or instead of the one in serve).

    Example: FABRIEK_DATABASE_URL=postgresql+psycopg://... fabriek worker
    """
    import threading

    from fabriek.compute.reconciler import Reconciler
    from fabriek.compute.registry import build_executors
    from fabriek.datalab.service import DatalabConfig
    from fabriek.db.installation import installation_uid
    from fabriek.db.session import Database
    from fabriek.federation.service import federation_for_executors
    from fabriek.settings import Settings
    from fabriek.wiring import access_config

    settings = Settings()
    access = access_config(settings)
    db = Database(settings)
    with db.session(readonly=True) as session:
        federation = federation_for_executors(session, access.federation.catalogue)
    executors = build_executors(settings, federation, namespace=installation_uid(db))
    reconciler = Reconciler(db, executors, access,
                            datalab=DatalabConfig.from_settings(settings))
    try:
        if once:
            report = reconciler.run_once()
            out.note(f"submitted {len(report.submitted)}, adopted {len(report.adopted)}, "
                     f"changed {len(report.changed)}, pre-empted {len(report.preempted)}")
            return
        out.note(f"reconciler {reconciler.worker_id} running; Ctrl-C stops it")
        stop = threading.Event()
        try:
            reconciler.run_forever(stop, interval)
        except KeyboardInterrupt:
            stop.set()
            time.sleep(0)
    finally:
        db.dispose()
