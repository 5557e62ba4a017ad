"""`fabriek demo`: a start-up goes from registration to a Playground allocation, for real.

Everything runs as in production, only smaller: a fresh SQLite database in a temporary directory,
`fabriek serve` as a separate process on a free loopback port, and the Python client over HTTP.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.text import Text

from fabriek.access.enums import ProposalState
from fabriek.access.schemas import AllocationRead, ProposalRead
from fabriek.cli import output as out
from fabriek.cli import views
from fabriek.client import FabriekClient
from fabriek.compute.schemas import JobRead
from fabriek.identity.enums import Role
from fabriek.identity.schemas import OrganisationRead
from fabriek.kit.clock import utcnow
from fabriek.settings import Settings


class DemoFailed(Exception):
    """A step of the demo failed in a way the user should see with its evidence."""

    def __init__(self, message: str, evidence: str = "") -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass
class Timeline:
    """Prints each step as it completes, with its own duration and the time since the start."""

    quiet: bool
    started: float = field(default_factory=time.perf_counter)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        begun = time.perf_counter()
        number = len(self.steps) + 1
        try:
            yield
        except BaseException:
            self._print(number, title, begun, ok=False)
            raise
        self._print(number, title, begun, ok=True)

    def _print(self, number: int, title: str, begun: float, *, ok: bool) -> None:
        now = time.perf_counter()
        self.steps.append({"step": title, "ok": ok, "seconds": round(now - begun, 3)})
        if not self.quiet:
            out.show(Text.assemble(("✓ " if ok else "✗ ", "green" if ok else "bold red"),
                                   (f"{number}. {title}", "bold"),
                                   (f"  {now - begun:.2f} s  (t+{now - self.started:.2f} s)",
                                    "dim")))

    def detail(self, *renderables: Any) -> None:
        if not self.quiet:
            out.show(*renderables)


def _free_port() -> int:
    # Bind to port 0 and let the OS choose; the tiny window before the server binds is harmless
    # on loopback.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as sink:  # the child keeps its own handle; a file never fills a pipe
        return subprocess.Popen(
            [sys.executable, "-m", "fabriek", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--no-migrate"],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def _wait_healthy(server: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DemoFailed(f"the server exited with code {server.returncode} before it was "
                             "ready", _tail(log))
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise DemoFailed(f"the server did not answer /api/v1/health within {timeout:.0f} s",
                     _tail(log))


def _stop_server(server: subprocess.Popen[bytes] | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


def _years_ago(today: date, years: int) -> date:
    return today.replace(year=today.year - years, day=min(today.day, 28))


def _bootstrap(settings: Settings) -> dict[str, str]:
    """Migrate, then create the access officer and the applicant as the SYSTEM principal."""
    from fabriek.cli import inprocess

    officer, applicant = inprocess.create_users(settings, [
        ("officer@demo.fabriek.eu", "Olga Officer", [Role.access_officer]),
        ("eva@tulpen-ai.demo.fabriek.eu", "Eva de Vries", [Role.applicant]),
    ], token_name="demo")
    return {"officer": officer["token"], "applicant": applicant["token"]}


def _run(timeline: Timeline, data_dir: Path, timeout: float
         ) -> tuple[OrganisationRead, ProposalRead, AllocationRead | None, JobRead | None,
                    float | None, dict[str, str]]:
    settings = Settings()
    with timeline.step("Migrate a fresh SQLite database; bootstrap an officer and an applicant"):
        tokens = _bootstrap(settings)
    timeline.detail(Text(f"   database: {settings.resolved_database_url()}", style="dim"))

    with timeline.step("Start `fabriek serve` and wait for /api/v1/health"):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = data_dir / "server.log"
        server = _start_server(port, log)
        try:
            _wait_healthy(server, url, log, timeout)
        except BaseException:
            _stop_server(server)
            raise
    timeline.detail(Text(f"   {url}/api/v1 (pid {server.pid}, log {log})", style="dim"))

    today = utcnow().date()
    try:
        with FabriekClient(url, tokens["applicant"]) as fab:
            with timeline.step("The applicant registers and vouches for a Dutch start-up"):
                org = fab.organisations.register({
                    "legal_name": "Tulpen AI B.V.", "country": "NL",
                    "registration_id": "90000001", "vat_id": "NL900000001B01",
                    "kind": "enterprise", "founded_on": _years_ago(today, 2), "headcount": 12,
                    "turnover_eur": "1200000", "balance_sheet_eur": "900000",
                }, vouch=True)
            if not timeline.quiet:
                views.organisation_brief(org)

            applied = time.perf_counter()
            with timeline.step("Draft a Playground proposal"):
                draft = fab.proposals.create({
                    "organisation_id": org.id, "mode": "playground",
                    "title": "Dutch case-law summariser",
                    "abstract": "Fine-tune an open 7B language model on published Dutch case "
                                "law to draft plain-language summaries for citizens.",
                    "sector": "language", "gpu_hours": 2000, "duration_months": 2,
                    "start_on": today, "intended_system": "A summarisation assistant for "
                    "Dutch court decisions, reviewed by legal editors before publication.",
                    "gpu_model": "H100", "gpu_memory_gb": 80, "civilian_use": True,
                    "ethics_commitment": "platform-declaration",
                    "ethics_signed_by": "Eva de Vries",
                })
            timeline.detail(Text(f"   proposal {draft.id}: {draft.state.value}", style="dim"))

            with timeline.step("Self-assess it under the AI Act and attach the assessment"):
                assessment = fab.request("POST", "/act/assessments", json={
                    "organisation_id": org.id, "lang": "en", "answers": DEMO_AI_ACT_ANSWERS})
                fab.request("PUT", f"/proposals/{draft.id}/self-assessment",
                            json={"assessment_id": assessment["id"]})
            timeline.detail(Text("   AI Act: " + ", ".join(
                c["label"] for c in assessment["outcome"]["categories"]), style="dim"))

            with timeline.step("Refer it: rank the AI Factories of the catalogue"):
                referral = fab.proposals.referral(draft.id)
            eligible = [r for r in referral.rankings if r.eligible]
            best = eligible[0] if eligible else None
            timeline.detail(Text(
                f"   {len(referral.rankings)} factories ranked; first: "
                + (f"{best.factory} (score {best.score:g}); " if best else "none; ")
                + f"{len(referral.rankings) - len(eligible)} excluded (most are not in "
                "operation yet or not connected to this installation)", style="dim"))

            with timeline.step("Browse the data labs: the open datasets published at start"):
                datasets = fab.datalab.list()
            timeline.detail(Text("   " + "; ".join(
                f"{d.slug} ({d.licence}, {d.distributions} files)" for d in datasets)
                or "   none", style="dim"))

            with timeline.step("Submit it: the admission checks decide at once"):
                decided = fab.proposals.submit(draft.id)
            if not timeline.quiet:
                views.proposal_outcome(decided)

            allocation, job, first_running = None, None, None
            if decided.allocation_ids:
                with timeline.step("Read the allocation"):
                    allocation = fab.allocations.get(decided.allocation_ids[0])
                if not timeline.quiet:
                    views.allocation(allocation)

                with timeline.step("Submit a first job on the allocation (local executor)"):
                    job = fab.jobs.submit({
                        "allocation_id": allocation.id, "name": "first-job", "gpus": 1,
                        "time_limit_minutes": 5, "model": "case-law-summariser-7b",
                        "command": [sys.executable, "-c", FIRST_JOB]})
                with timeline.step("Wait until it runs"):
                    job = _wait_for(fab, job.id, lambda j: j.state.value != "pending-submit"
                                    and j.state.value != "queued", timeout)
                first_running = time.perf_counter() - applied
                timeline.detail(Text(f"   application to first job running: "
                                     f"{first_running:.1f} s", style="bold"))
                with timeline.step("Wait until it completes; read its output"):
                    job = _wait_for(fab, job.id, lambda j: j.state.value in FINAL, timeout)
                    output, _ = fab.jobs.logs(job.id)
                if not timeline.quiet:
                    views.job(job)
                    timeline.detail(Text(output.rstrip(), style="cyan"))
                    views.usage(fab.jobs.usage(allocation.id))

        with FabriekClient(url, tokens["officer"]) as officer, \
                timeline.step("The access officer verifies the audit chain"):
            report = officer.audit.verify()
        timeline.detail(Text(f"   {report.entries} entries, head {report.head_hash[:16]}…, "
                             f"{'intact' if report.ok else 'BROKEN'}",
                             style="dim" if report.ok else "bold red"))
    finally:
        with timeline.step("Stop the server"):
            _stop_server(server)
    return org, decided, allocation, job, first_running, tokens


FINAL = ("completed", "failed", "cancelled", "timeout")
# The case-law summariser under the AI Act: its provider places it on the EU market; it
# generates text (Article 50(2)) and falls in no Annex III area (it assists citizens, not
# judges). Every proposal carries a self-assessment (fabriek.compliance.gate).
DEMO_AI_ACT_ANSWERS = {
    "kind": "system", "definition": "yes", "role": "provider", "scope": "placed-in-eu",
    "exclusions": "none", "prohibited": ["none"], "annex_i": "no", "annex_iii": "none",
    "transparency": ["synthetic-content"], "open_source": "no"}

FIRST_JOB = (
    "import os, platform, time\n"
    "print('Hello from the first Fabriek job on', platform.node())\n"
    "print('GPU slot(s):', os.environ.get('CUDA_VISIBLE_DEVICES'))\n"
    "for step in range(3):\n"
    "    print(f'training step {step}: loss {1 / (step + 1):.3f}', flush=True)\n"
    "    time.sleep(0.5)\n")


def _wait_for(fab: FabriekClient, job_id: int, done: Any, timeout: float) -> JobRead:
    deadline = time.monotonic() + timeout
    while True:
        job = fab.jobs.get(job_id)
        if done(job):
            return job
        if job.state.value in FINAL:
            raise DemoFailed(f"job {job_id} ended {job.state.value}: {job.reason}")
        if time.monotonic() > deadline:
            raise DemoFailed(f"job {job_id} still {job.state.value} after {timeout:.0f} s")
        time.sleep(0.1)


def demo(
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the temporary data directory (database, server log).")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=1, help="Seconds to wait for the server to start.")] = 60.0,
    json: Annotated[bool, typer.Option("--json", help="Print a JSON summary only.")] = False,
) -> None:
    """Show the whole path on this machine: register, apply, decide, allocate, run a first job.

    Starts a throw-away server on a free loopback port with its own SQLite database; nothing
    else on the machine is touched. Exits 0 only if the proposal ends accepted with an
    allocation and the first job completes on the local executor.

    Example: fabriek demo --keep
    """
    data_dir = Path(tempfile.mkdtemp(prefix="fabriek-demo-"))
    # Before anything reads Settings: this process and the server child use the temp database.
    os.environ["FABRIEK_DATA_DIR"] = str(data_dir)
    os.environ.pop("FABRIEK_DATABASE_URL", None)
    timeline = Timeline(quiet=json)
    summary: dict[str, Any] = {"data_dir": str(data_dir), "kept": keep}
    try:
        org, proposal, allocation, job, first_running, tokens = _run(timeline, data_dir,
                                                                      timeout)
    except DemoFailed as exc:
        out.error(f"demo failed: {exc}", f"rerun with --keep and read {data_dir / 'server.log'}"
                  if not keep else f"read {data_dir / 'server.log'}")
        if exc.evidence:
            out.stderr().print(Text(exc.evidence, style="dim"))
        raise typer.Exit(1) from exc
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    ok = (proposal.state is ProposalState.accepted and allocation is not None
          and job is not None and job.state.value == "completed")
    summary.update(ok=ok, organisation=org, proposal=proposal, allocation=allocation, job=job,
                   application_to_first_job_running_seconds=(
                       round(first_running, 3) if first_running is not None else None),
                   steps=timeline.steps,
                   seconds=round(time.perf_counter() - timeline.started, 3))
    if json:
        out.print_json(summary)
    elif ok and allocation is not None:
        out.show(Text.assemble(
            ("Proposal accepted", "bold green"),
            f" {proposal.reference}: {allocation.gpu_hours:,} GPU-hours on "
            f"{allocation.factory}/{allocation.partition} from {allocation.start_on} until "
            f"{allocation.end_on}, priority class {allocation.priority_class}; first job "
            f"completed; application to first job running: {first_running:.1f} s; "
            f"{summary['seconds']:.1f} s in all."))
    else:
        out.error(f"the proposal ended {proposal.state.value} and the first job "
                  f"{job.state.value if job else 'never ran'}",
                  f"see the steps above; `fabriek proposal show {proposal.id}` on a kept demo")
    if keep and not json:
        out.note(f"Kept {data_dir}. Serve it again with: FABRIEK_DATA_DIR={data_dir} "
                 f"fabriek serve  (applicant token: {tokens['applicant']})")
    if not ok:
        raise typer.Exit(1)
