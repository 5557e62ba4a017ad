"""Throughput of the Playground path (draft + submit → accepted with an allocation) over HTTP.

For each backend (SQLite in a fresh data directory; PostgreSQL in a throw-away server from
scripts/pg.sh, reached over its Unix socket unless `--pg-connection tcp`) this starts
`fabriek serve` on a free loopback port, creates one applicant per client (in-process, before
the server starts) and one vouched, eligible start-up per applicant (through the API), then
measures, with C concurrent clients:

1. the baseline: GET /api/v1/health under the same concurrency, the server's floor cost per
   request (routing, a pooled session, `SELECT 1`, JSON out);
2. the work: each client applies for Playground in a loop and checks that every proposal ends
   "accepted" with an allocation. `--flow one-request` (the default): one POST
   /api/v1/proposals with an Idempotency-Key, the AI Act self-assessment (made once per
   applicant beforehand) and `submit: true`, as the CLI's `proposal create --submit` and a
   Playground applicant's script send it. `--flow steps`: POST /api/v1/proposals (draft), PUT
   /api/v1/proposals/{id}/self-assessment, POST /api/v1/proposals/{id}/submit, as the portal's
   wizard goes.

It prints accepted proposals/s, requests/s, p50/p95/p99 latencies of the pair and of each request
kind, errors, the CPU seconds the server, the database and this load generator used, the work's
throughput as a ratio of the baseline measured in the same run, and whether the targets
(≥ 200 accepted/s, p99 < 250 ms at 32 clients) are met. Servers and PostgreSQL are stopped at
the end, also on errors and Ctrl-C. Everything is loopback; every phase is bounded in time.

    .venv/bin/python benchmarks/access_throughput.py --backends sqlite,postgresql \
        --clients 32 --duration 20 --workers 2 --json bench.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PG_SH = ROOT / "scripts" / "pg.sh"
TARGET_ACCEPTED_PER_S = 200.0
TARGET_P99_MS = 250.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- request bodies (as tests/builders.py) -------------------------------------------------------


def startup_org(n: int) -> dict[str, Any]:
    founded = date.today() - timedelta(days=2 * 365)
    return {"legal_name": f"Bench Vision {n} B.V.", "country": "NL",
            "registration_id": f"KVK-BENCH-{n:06d}", "kind": "enterprise",
            "founded_on": founded.isoformat(), "headcount": 12, "turnover_eur": "1200000",
            "balance_sheet_eur": "800000"}


def playground_proposal(organisation_id: int) -> dict[str, Any]:
    return {
        "organisation_id": organisation_id, "mode": "playground",
        "title": "Fine-tuning a Dutch vision-language model for quality inspection",
        "abstract": "We adapt an open 7B vision-language model to detect defects on production "
                    "lines of Dutch SMEs.",
        "sector": "manufacturing", "gpu_hours": 2000, "gpu_model": "H100", "gpu_memory_gb": 80,
        "duration_months": 2, "start_on": date.today().isoformat(),
        "intended_system": "A defect-detection assistant for human inspectors",
        "civilian_use": True, "ethics_commitment": "platform-declaration",
        "ethics_signed_by": "Anna de Vries, CEO",
    }


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_cpu_seconds(root_pid: int | None) -> float:
    """User + system CPU seconds of a process and all its live descendants."""
    if root_pid is None:
        return 0.0
    tree, total, todo = _children(), 0, [root_pid]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(tree.get(pid, []))
    return total / CLK_TCK


def clients_per_process(root_pid: int, port: int) -> list[int]:
    """Established connections to `port` held by each process of the server's tree, most
    first: how the kernel spread the clients over the API processes."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    tree, todo, counts = _children(), [root_pid], []
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        held = sum(1 for link in links if link.startswith("socket:[")
                   and link[8:-1] in inodes)
        if held:
            counts.append(held)
    return sorted(counts, reverse=True)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, all cores) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / CLK_TCK


def serve_available() -> bool:
    try:
        r = subprocess.run([sys.executable, "-m", "fabriek", "serve", "--help"],
                           capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


@dataclass
class Postgres:
    directory: str
    url: str

    @classmethod
    def start(cls, connection: str) -> Postgres:
        """`connection`: "socket" (the Unix socket, as an API on the database's host connects)
        or "tcp" (loopback)."""
        r = subprocess.run([str(PG_SH), "start"], capture_output=True, text=True, timeout=600,
                           check=False)
        if r.returncode != 0:
            raise RuntimeError(f"scripts/pg.sh start failed: {r.stderr.strip()}")
        env = {k: v.strip("'") for k, v in re.findall(r"(\w+)=('[^']*'|\S+)", r.stdout)}
        return cls(env["PGTEST_DIR"], env["FABRIEK_PG_SOCKET_URL" if connection == "socket"
                                          else "FABRIEK_PG_URL"])

    def postmaster_pid(self) -> int | None:
        try:
            return int(Path(self.directory, "data", "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        subprocess.run([str(PG_SH), "stop", self.directory], timeout=120, check=False)


class Server:
    """`fabriek serve` (or plain uvicorn before the CLI exists) in its own process group."""

    def __init__(self, kind: str, port: int, workers: int, env: dict[str, str], log_path: Path,
                 extra: list[str], app: str = "fabriek.api.app:create_app"):
        host = "127.0.0.1"
        if kind == "fabriek":
            cmd = [sys.executable, "-m", "fabriek", "serve", "--host", host, "--port", str(port),
                   "--workers", str(workers), *extra]
        else:
            cmd = [sys.executable, "-m", "uvicorn", "--factory", app, "--host", host,
                   "--port", str(port), "--workers", str(workers), "--no-access-log", *extra]
        self.cmd = cmd
        self.base_url = f"http://{host}:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_healthy(self, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            try:
                r = httpx.get(f"{self.base_url}/api/v1/health", timeout=2)
                if r.status_code == 200:
                    return r.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"no healthy server within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # workers left behind by a supervisor that died
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


# --- statistics ----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def latency_summary(values: list[float]) -> dict[str, float | int | None]:
    v = sorted(values)
    ms = (lambda x: None if x is None else round(x * 1000, 1))  # noqa: E731
    return {"n": len(v), "mean_ms": ms(sum(v) / len(v)) if v else None,
            "p50_ms": ms(percentile(v, 50)), "p95_ms": ms(percentile(v, 95)),
            "p99_ms": ms(percentile(v, 99)), "max_ms": ms(v[-1] if v else None)}


@dataclass
class Recorder:
    """Completions inside the measured window [start, end]; errors over the whole run."""

    start: float = float("inf")
    end: float = float("inf")
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    errors_in_window: int = 0
    # Requests under way at the window's end, finished later: not counted in the throughput,
    # but their latencies are in the percentiles, so a starved client cannot hide there.
    overran: dict[str, list[float]] = field(default_factory=dict)

    def ok(self, kind: str, started: float, finished: float) -> None:
        if self.start <= finished <= self.end:
            self.latencies.setdefault(kind, []).append(finished - started)
        elif started <= self.end < finished:
            self.overran.setdefault(kind, []).append(finished - started)

    def all_latencies(self, kind: str) -> list[float]:
        return self.latencies.get(kind, []) + self.overran.get(kind, [])

    def error(self, kind: str, what: str, detail: str) -> None:
        self.errors[f"{kind}: {what}"] += 1
        if self.start <= time.perf_counter() <= self.end:
            self.errors_in_window += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{kind}: {what}: {detail[:300]}")


# --- load ----------------------------------------------------------------------------------------


# A minimal-risk AI Act self-assessment: every proposal carries one (fabriek.compliance.gate).
MINIMAL_RISK_ANSWERS = {
    "kind": "system", "definition": "yes", "role": "provider", "scope": "placed-in-eu",
    "exclusions": "none", "prohibited": ["none"], "annex_i": "no", "annex_iii": "none",
    "transparency": ["none"], "open_source": "no"}


@dataclass
class Applicant:
    email: str
    token: str
    organisation_id: int = 0
    assessment_id: int = 0


def bootstrap_applicants(n: int) -> list[Applicant]:
    """Migrate, then create n applicants with tokens, in-process (settings from FABRIEK_*)."""
    from sqlalchemy import update

    from fabriek.db.migrate import upgrade
    from fabriek.db.session import Database
    from fabriek.federation.catalogue import load_catalogue
    from fabriek.federation.models import Partition
    from fabriek.federation.service import sync_catalogue
    from fabriek.identity import service
    from fabriek.identity.enums import Role
    from fabriek.identity.principal import SYSTEM
    from fabriek.settings import Settings

    settings = Settings()
    db = Database(settings)
    try:
        upgrade(db.engine)
        with db.unit_of_work() as session:
            sync_catalogue(session, load_catalogue(settings.policy_dir))
            # The embedded factory is one 4-GPU node, which holds two Playground allocations;
            # size it so every proposal of a long run can be accepted (65,536 GPUs hold about
            # 47,000 of these 2,000 GPU-hour, two-month requests; 4,096 filled up after 2,998,
            # 15 s into a 20 s run at 200/s) and the run measures the access path, not
            # capacity refusals.
            session.execute(update(Partition).where(
                Partition.factory_id == "local", Partition.id == "gpu").values(nodes=16384))
        people = []
        with db.unit_of_work() as session:
            for i in range(n):
                user = service.create_user(session, SYSTEM, email=f"bench{i}@lumen.example",
                                           roles=[Role.applicant])
                people.append(Applicant(user.email,
                                        service.issue_token(session, SYSTEM, user)))
        return people
    finally:
        db.dispose()


def verify_database() -> dict[str, Any]:
    """After the run: proposals per state, allocations, and whether the audit chain holds."""
    from sqlalchemy import func, select

    from fabriek.access.models import Allocation, Proposal
    from fabriek.audit.service import verify_chain
    from fabriek.db.session import Database
    from fabriek.settings import Settings

    db = Database(Settings())
    try:
        with db.unit_of_work(readonly=True) as session:
            states = {s.value: n for s, n in session.execute(
                select(Proposal.state, func.count()).group_by(Proposal.state))}
            allocations = session.execute(select(func.count()).select_from(Allocation)).scalar()
            chain = verify_chain(session)
        return {"proposals_by_state": states, "allocations": allocations,
                "audit_chain_ok": chain.ok, "audit_entries": chain.entries,
                "audit_problems": chain.problems[:5]}
    finally:
        db.dispose()


def new_client(base_url: str, clients: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=httpx.Timeout(30.0))


async def create_organisations(base_url: str, people: list[Applicant]) -> None:
    async with new_client(base_url, len(people)) as client:
        async def one(i: int, p: Applicant) -> None:
            r = await client.post("/api/v1/organisations", params={"vouch": "true"},
                                  json=startup_org(i),
                                  headers={"Authorization": f"Bearer {p.token}",
                                           "Idempotency-Key": f"bench-org-{i}"})
            if r.status_code != 201:
                raise RuntimeError(f"registering an organisation: {r.status_code} {r.text}")
            body = r.json()
            if not (body["eligibility"]["eligible"] and body.get("vouched_at")):
                raise RuntimeError(f"the organisation is not eligible and vouched: {body}")
            p.organisation_id = body["id"]
            r = await client.post("/api/v1/act/assessments", json={
                "organisation_id": p.organisation_id, "answers": MINIMAL_RISK_ANSWERS},
                headers={"Authorization": f"Bearer {p.token}",
                         "Idempotency-Key": f"bench-assessment-{i}"})
            if r.status_code != 201:
                raise RuntimeError(f"self-assessing: {r.status_code} {r.text}")
            p.assessment_id = r.json()["id"]

        await asyncio.gather(*(one(i, p) for i, p in enumerate(people)))


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: the load generator's client.

    httpx.AsyncClient costs about 1.5 ms of CPU per request here (measured: 0.85 of a core at
    ~600 req/s) and slows down as its pool grows to 32 connections; on a 2-core machine that
    shared with the server would measure the load generator. This costs ~0.08 ms per request.
    It speaks just what uvicorn answers: Content-Length bodies (and chunked, for safety).
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._request(method, path, body, headers or {}),
                                          self.timeout)
        except BaseException:
            self.close()
            raise

    async def _request(self, method: str, path: str, body: bytes, headers: dict[str, str]
                       ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Length: {len(body)}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
        self.writer.write(head.encode("latin-1") + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw[:-4].split(b"\r\n")
        status = int(lines[0].split(None, 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        if b"content-length" in fields:
            data = await self.reader.readexactly(int(fields[b"content-length"]))
        elif fields.get(b"transfer-encoding") == b"chunked":
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            data = b"".join(parts)
        else:
            data = b""
        if fields.get(b"connection") == b"close":
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class HttpxConnection:
    """The same interface over one shared httpx.AsyncClient (--client httpx, for comparison)."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        r = await self.client.request(method, path, content=body or None, headers=headers)
        return r.status_code, r.content

    def close(self) -> None:
        pass


class ProtocolError(Exception):
    pass


# Request kinds of each flow; "pair" is the whole application (one request or three).
FLOW_KINDS = {"one-request": ["apply"], "steps": ["create", "attach", "submit"]}
TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    httpx.HTTPError)  # OSError covers TimeoutError and connection resets


def expect_accepted(status: int, data: bytes, expected_status: int) -> None:
    """The answer is the proposal, accepted, with its allocation; else a ProtocolError."""
    out = json.loads(data) if data else {}
    if status != expected_status or out.get("state") != "accepted" \
            or not out.get("allocation_ids"):
        raise ProtocolError(f"{status} state={out.get('state')!r} {data[:300]!r}")


async def run_phase(base_url: str, people: list[Applicant], *, warmup: float, duration: float,
                    count: int | None, work: str, client_kind: str = "raw",
                    flow: str = "one-request") -> tuple[Recorder, float, float]:
    """Run `work` ('health' or 'proposals') for warm-up + duration (or until `count` pairs are
    accepted after warm-up). Returns the recorder and the window's wall-clock bounds."""
    rec = Recorder()
    loop_start = time.perf_counter()
    rec.start = loop_start + warmup
    rec.end = rec.start + duration if count is None else float("inf")
    done = asyncio.Event()
    host, port = base_url.removeprefix("http://").rsplit(":", 1)

    def measured_pairs() -> int:
        return len(rec.latencies.get("pair", []))

    async with new_client(base_url, len(people)) as shared:
        def connect() -> RawConnection | HttpxConnection:
            return RawConnection(host, int(port)) if client_kind == "raw" else \
                HttpxConnection(shared)

        async def health_loop(p: Applicant) -> None:
            conn = connect()
            try:
                while not done.is_set():
                    t0 = time.perf_counter()
                    try:
                        status, data = await conn.request("GET", "/api/v1/health")
                    except TRANSPORT_ERRORS as exc:
                        rec.error("health", type(exc).__name__, str(exc))
                        continue
                    t1 = time.perf_counter()
                    if status == 200:
                        rec.ok("health", t0, t1)
                    else:
                        rec.error("health", str(status), data.decode(errors="replace"))
            finally:
                conn.close()

        async def apply_loop(p: Applicant) -> None:
            conn = connect()
            body = json.dumps({**playground_proposal(p.organisation_id),
                               "self_assessment_id": p.assessment_id, "submit": True}).encode()
            headers = {"Authorization": f"Bearer {p.token}", "Content-Type": "application/json"}
            try:
                while not done.is_set():
                    t0 = time.perf_counter()
                    try:
                        status, data = await conn.request("POST", "/api/v1/proposals", body, {
                            **headers, "Idempotency-Key": uuid.uuid4().hex})
                        t1 = time.perf_counter()
                        expect_accepted(status, data, 201)
                    except ProtocolError as exc:
                        rec.error("apply", str(exc).split(" ", 1)[0], str(exc))
                        continue
                    except (*TRANSPORT_ERRORS, ValueError) as exc:
                        rec.error("apply", type(exc).__name__, str(exc))
                        continue
                    rec.ok("apply", t0, t1)
                    rec.ok("pair", t0, t1)
                    if count is not None and measured_pairs() >= count:
                        done.set()
            finally:
                conn.close()

        async def proposal_loop(p: Applicant) -> None:
            conn = connect()
            auth = f"Bearer {p.token}"
            body = json.dumps(playground_proposal(p.organisation_id)).encode()
            attach = json.dumps({"assessment_id": p.assessment_id}).encode()
            kind = "create"
            try:
                while not done.is_set():
                    t0 = time.perf_counter()
                    try:
                        kind = "create"
                        status, data = await conn.request("POST", "/api/v1/proposals", body, {
                            "Authorization": auth, "Content-Type": "application/json",
                            "Idempotency-Key": uuid.uuid4().hex})
                        t1 = time.perf_counter()
                        out = json.loads(data) if data else {}
                        if status != 201 or out.get("state") != "draft":
                            raise ProtocolError(f"{status} {data[:300]!r}")
                        rec.ok("create", t0, t1)
                        kind = "attach"  # the AI Act self-assessment every proposal carries
                        status, data = await conn.request(
                            "PUT", f"/api/v1/proposals/{out['id']}/self-assessment", attach,
                            {"Authorization": auth, "Content-Type": "application/json"})
                        t_attach = time.perf_counter()
                        if status != 200:
                            raise ProtocolError(f"{status} {data[:300]!r}")
                        rec.ok("attach", t1, t_attach)
                        t1 = t_attach
                        kind = "submit"
                        status, data = await conn.request(
                            "POST", f"/api/v1/proposals/{out['id']}/submit", b"",
                            {"Authorization": auth, "Idempotency-Key": uuid.uuid4().hex})
                        t2 = time.perf_counter()
                        expect_accepted(status, data, 200)
                    except ProtocolError as exc:
                        rec.error(kind, str(exc).split(" ", 1)[0], str(exc))
                        continue
                    except (*TRANSPORT_ERRORS, ValueError) as exc:
                        rec.error(kind, type(exc).__name__, str(exc))
                        continue
                    rec.ok("submit", t1, t2)
                    rec.ok("pair", t0, t2)
                    if count is not None and measured_pairs() >= count:
                        done.set()
            finally:
                conn.close()

        async def clock() -> None:
            if count is None:
                await asyncio.sleep(warmup + duration)
                done.set()
            else:
                await done.wait()
                rec.end = time.perf_counter()

        loop = (health_loop if work == "health" else
                apply_loop if flow == "one-request" else proposal_loop)
        tasks = [asyncio.create_task(loop(p)) for p in people]
        timer = asyncio.create_task(clock())
        try:
            # bounded: a fixed-count run gets at most 10 minutes
            await asyncio.wait_for(timer, timeout=None if count is None else 600)
            # in-flight requests finish (counted only if inside the window); 35 s at most
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=35)
        finally:
            for t in (*tasks, timer):
                t.cancel()
            await asyncio.gather(*tasks, timer, return_exceptions=True)
    return rec, rec.start, rec.end


# --- one backend ---------------------------------------------------------------------------------


def run_async(coro: Any) -> Any:
    """asyncio.run on uvloop when it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


@contextlib.contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def measure(base_url: str, people: list[Applicant], args: argparse.Namespace, work: str,
            server_pid: int, db_pid: int | None, profile: Path | None = None,
            pg_url: str | None = None) -> dict[str, Any]:
    """One phase, with CPU accounting of the server tree, the database tree and ourselves over
    the measured window, and (PostgreSQL) what the database sessions were doing."""
    warmup = args.baseline_warmup if work == "health" else args.warmup
    duration = args.baseline_duration if work == "health" else args.duration
    count = None if work == "health" else args.count
    spy: list[subprocess.Popen[bytes]] = []
    activity: Counter[str] = Counter()
    samples = [0]
    stop_sampling = threading.Event()
    sampler_thread: threading.Thread | None = None

    def cpu_now() -> dict[str, float]:
        return {"server": tree_cpu_seconds(server_pid), "database": tree_cpu_seconds(db_pid),
                "load_generator": time.process_time(), "machine": machine_busy_seconds()}

    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    split: dict[str, list[int]] = {}

    async def go() -> tuple[Recorder, float, float, dict[str, dict[str, float]]]:
        nonlocal spy, sampler_thread
        cpu: dict[str, dict[str, float]] = {}

        async def at_window() -> None:
            nonlocal spy, sampler_thread
            await asyncio.sleep(warmup)
            cpu["start"] = cpu_now()
            split["start"] = clients_per_process(server_pid, port)
            if profile is not None:
                spy = start_py_spy(server_pid, profile, duration)
            if pg_url is not None and args.pg_activity:
                sampler_thread = threading.Thread(
                    target=sample_pg_activity, args=(pg_url, stop_sampling, activity, samples),
                    daemon=True)
                sampler_thread.start()
            if count is None:
                await asyncio.sleep(duration)
                cpu["end"] = cpu_now()
                split["end"] = clients_per_process(server_pid, port)
                stop_sampling.set()

        sampler = asyncio.create_task(at_window())
        rec, start, end = await run_phase(base_url, people, warmup=warmup, duration=duration,
                                          count=count, work=work, client_kind=args.client,
                                          flow=args.flow)
        await sampler
        cpu.setdefault("end", cpu_now())
        return rec, start, end, cpu

    try:
        rec, start, end, cpu = run_async(go())
    finally:
        stop_sampling.set()
        if sampler_thread is not None:
            sampler_thread.join(timeout=10)
        finish_py_spy(spy)
    used = {k: cpu["end"][k] - cpu["start"][k] for k in cpu["start"]}
    server_cpu, db_cpu, me_cpu = used["server"], used["database"], used["load_generator"]
    # everything else that ran on the machine meanwhile (other people's work, py-spy, sampler)
    other_cpu = max(0.0, used["machine"] - server_cpu - db_cpu - me_cpu)
    window = end - start
    kinds = ["health"] if work == "health" else ["pair", *FLOW_KINDS[args.flow]]
    requests = sum(len(rec.latencies.get(k, [])) for k in kinds if k != "pair")
    result: dict[str, Any] = {
        "window_s": round(window, 2),
        "requests": requests,
        "requests_per_s": round(requests / window, 1),
        "errors": sum(rec.errors.values()),
        "errors_in_window": rec.errors_in_window,
        "error_kinds": dict(rec.errors),
        "error_samples": rec.error_samples,
        "latency": {k: latency_summary(rec.all_latencies(k)) for k in kinds},
        "overran_window": {k: len(v) for k, v in rec.overran.items()},
        "cpu_s": {"server": round(server_cpu, 2), "database": round(db_cpu, 2),
                  "load_generator": round(me_cpu, 2), "other_processes": round(other_cpu, 2)},
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "clients_per_process": split,
    }
    if samples[0]:
        result["pg_sessions"] = {
            "samples": samples[0],
            "mean_sessions": [(k, round(n / samples[0], 2)) for k, n in activity.most_common(12)]}
    if work == "proposals":
        accepted = len(rec.latencies.get("pair", []))
        result["accepted"] = accepted
        result["accepted_per_s"] = round(accepted / window, 1)
        if accepted:
            result["cpu_ms_per_accepted"] = {
                "server": round(server_cpu / accepted * 1000, 2),
                "database": round(db_cpu / accepted * 1000, 2),
                "load_generator": round(me_cpu / accepted * 1000, 2)}
    elif requests:
        result["cpu_ms_per_request"] = {"server": round(server_cpu / requests * 1000, 3),
                                        "database": round(db_cpu / requests * 1000, 3)}
    return result


def sample_pg_activity(url: str, stop: threading.Event, out: Counter[str], samples: list[int],
                       interval: float = 0.05) -> None:
    """Every `interval`: each client session's state, wait event and statement (pg_stat_activity),
    counted; divided by the number of samples this is the mean number of sessions in each."""
    import psycopg

    sql = ("SELECT state, coalesce(wait_event_type || ':' || wait_event, '-'), "
           "regexp_replace(left(query, 70), '\\s+', ' ', 'g') FROM pg_stat_activity "
           "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
           "AND datname = current_database()")
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as conn:
            while not stop.wait(interval):
                for state, wait, query in conn.execute(sql):
                    if state == "active":
                        out[f"active, waiting on {wait}: {query}"] += 1
                    else:
                        out[f"{state}{'' if state == 'idle' else ' (last: ' + query + ')'}"] += 1
                samples[0] += 1
    except Exception as exc:  # diagnostics only: never fail the run for them
        log(f"pg_stat_activity sampling stopped: {exc}")


def start_py_spy(server_pid: int, out_dir: Path, duration: float
                 ) -> list[subprocess.Popen[bytes]]:
    """Two py-spy recorders on the server and its workers: `cpu` (only samples holding the GIL:
    where the Python CPU goes) and `wall` (every non-idle thread: also time spent waiting in
    the database driver)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        log("py-spy not found (pip install py-spy); no profile taken")
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, extra in (("cpu", ["--gil"]), ("wall", [])):
        spies.append(subprocess.Popen(
            [exe, "record", "--pid", str(server_pid), "--subprocesses", "--nonblocking",
             "--rate", "100", "--duration", str(max(1, int(duration))), "--format", "raw",
             "--output", str(out_dir / f"{name}.txt"), *extra],
            stdout=subprocess.DEVNULL, stderr=open(out_dir / f"py-spy-{name}.log", "wb")))  # noqa: SIM115
    return spies


def finish_py_spy(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=10)
            spy.kill()


def run_backend(backend: str, args: argparse.Namespace, server_kind: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"fabriek-bench-{backend}."))
    pg: Postgres | None = None
    server: Server | None = None
    try:
        env: dict[str, str | None] = {"FABRIEK_DATA_DIR": str(workdir / "data"),
                                      "FABRIEK_DATABASE_URL": None,
                                      "FABRIEK_DB_POOL_SIZE": args.pool_size}
        if backend == "postgresql":
            log("starting a throw-away PostgreSQL (scripts/pg.sh)")
            pg = Postgres.start(args.pg_connection)
            env["FABRIEK_DATABASE_URL"] = pg.url
        with environment(env):
            log(f"{backend}: migrating and creating {args.clients} applicants in-process")
            people = bootstrap_applicants(args.clients)
            port = free_port()
            extra = [] if args.migrate else ["--no-migrate"]
            server = Server(server_kind, port, args.workers, dict(os.environ),
                            workdir / "server.log", extra if server_kind == "fabriek" else [],
                            args.app)
            log(f"{backend}: {' '.join(server.cmd)}")
            t0 = time.monotonic()
            health = server.wait_healthy()
            started_s = time.monotonic() - t0
            if health.get("database") != backend:
                raise RuntimeError(f"the server reports database {health.get('database')!r}")
            run_async(create_organisations(server.base_url, people))
            log(f"{backend}: {len(people)} vouched start-ups registered; baseline "
                f"(GET /health, {args.baseline_warmup:g}+{args.baseline_duration:g} s)")
            db_pid = pg.postmaster_pid() if pg else None
            baseline = measure(server.base_url, people, args, "health", server.proc.pid, db_pid)
            log(f"{backend}: baseline {baseline['requests_per_s']} req/s; proposals "
                f"({args.warmup:g} s + {span(args)})")
            profile = Path(args.profile) / backend if args.profile else None
            work = measure(server.base_url, people, args, "proposals", server.proc.pid, db_pid,
                           profile, pg.url if pg else None)
            log(f"{backend}: {work['accepted_per_s']} accepted/s")
            if work["errors"]:
                log(f"{backend}: server log tail:\n{server.log_tail(15)}")
            server.stop()
            server = None
            check = verify_database() if args.verify else {}
        result = {"backend": backend, "server_command": " ".join(report_command(server_kind, args)),
                  "server_start_s": round(started_s, 2),
                  "health": health, "baseline_health": baseline, "proposals": work,
                  "after_run": check}
        floor = baseline["requests_per_s"] or float("nan")
        result["ratio_to_baseline"] = {
            "accepted_per_s": round(work["accepted_per_s"] / floor, 4),
            "requests_per_s": round(work["requests_per_s"] / floor, 4)}
        p99 = work["latency"]["pair"]["p99_ms"]
        result["targets"] = {
            "accepted_per_s>=200": work["accepted_per_s"] >= TARGET_ACCEPTED_PER_S,
            "p99_pair_ms<250": p99 is not None and p99 < TARGET_P99_MS,
            "p99_each_request_ms<250": all(
                work["latency"][k]["p99_ms"] is not None
                and work["latency"][k]["p99_ms"] < TARGET_P99_MS
                for k in FLOW_KINDS[args.flow]),
        }
        if profile is not None:
            result["profile"] = {name: summarise_profile(profile / f"{name}.txt")
                                 for name in ("cpu", "wall") if (profile / f"{name}.txt").exists()}
        return result
    finally:
        if server is not None:
            server.stop()
        if pg is not None:
            log("stopping PostgreSQL")
            pg.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def report_command(kind: str, args: argparse.Namespace) -> list[str]:
    if kind == "fabriek":
        return ["python", "-m", "fabriek", "serve", "--host", "127.0.0.1", "--port", "PORT",
                "--workers", str(args.workers), *([] if args.migrate else ["--no-migrate"])]
    return ["python", "-m", "uvicorn", "--factory", args.app, "--host",
            "127.0.0.1", "--port", "PORT", "--workers", str(args.workers), "--no-access-log"]


# --- profile summary -----------------------------------------------------------------------------


# Named costs: a busy sample goes to the innermost frame that matches one of these.
GROUPS = [
    ("audit chain append (before_commit)", r"_append_pending \(.*audit/service"),
    ("token → principal", r"(principal_for_token|load_principal) \(.*identity/service"),
    ("proposal_view (re-reads)", r"proposal_view \(.*access/service"),
    ("admission checks", r"_run_checks \(.*access/service"),
    ("accept + allocation", r"_accept \(.*access/service"),
    ("get_proposal FOR UPDATE", r"get_proposal \(.*access/service"),
    ("create_proposal", r"create_proposal \(.*access/service"),
    ("idempotency key", r"(idempotent|_stored|_fingerprint) \(.*api/deps"),
    ("commit (flush of the request's writes)", r"commit \(.*sqlalchemy/orm/session"),
    ("session open/close/rollback", r"(_read_session|_write_session) \(.*api/deps"),
    ("response encoding", r"(jsonable_encoder|serialize_response|render) \("),
    ("request parsing/validation", r"(solve_dependencies|request_body_to_args|_validate) \("),
]
LAYERS = [  # self time by where the innermost frame lives
    ("sqlite3/psycopg driver", r"(sqlite3|psycopg)"),
    ("SQLAlchemy", r"sqlalchemy/"),
    ("pydantic", r"pydantic"),
    ("FastAPI/Starlette/anyio", r"(fastapi|starlette|anyio)/"),
    ("uvicorn/httptools/asyncio", r"(uvicorn|httptools|asyncio|uvloop)"),
    ("json/hashlib/stdlib", r"(json/|hashlib|lib/python3\.\d+/)"),
    ("fabriek", r"fabriek/"),
]
IDLE = re.compile(r"^(wait|select|poll|epoll_wait|_worker|run_forever|_run_once|acquire|"
                  r"get|sleep|serve_forever) \((threading|queue|selectors|concurrent|asyncio|"
                  r".*uvloop|.*anyio)")


def summarise_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Collapsed stacks (py-spy --format raw) → where the server's busy samples go: named
    costs, layers (self time) and the top functions (inclusive), in % of busy samples."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            if frames and not IDLE.search(frames[-1]):
                stacks.append((frames, int(n)))
    total = sum(n for _, n in stacks) or 1
    inclusive: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    for frames, n in stacks:
        for name in set(frames):
            inclusive[name] += n
        label = next((g for f in reversed(frames) for g, rx in GROUPS if re.search(rx, f)),
                     "other (uvicorn, routing, threadpool)")
        groups[label] += n
        layers[next((g for g, rx in LAYERS if re.search(rx, frames[-1])), "other")] += n

    def pct(c: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in c.most_common(k)]

    leaves: Counter[str] = Counter()
    for frames, n in stacks:
        leaves[frames[-1]] += n
    return {"busy_samples": total, "groups_pct": pct(groups, 50),
            "layers_pct": pct(layers, 20), "inclusive_pct": pct(inclusive, top),
            "leaves_pct": pct(leaves, 12)}


# --- report --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((ln.split(":", 1)[1].strip() for ln in
                    Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "free_h": mem.strip(),
            "python": platform.python_version(), "platform": platform.platform(),
            "git": commit}


def span(args: argparse.Namespace) -> str:
    return f"{args.count} pairs" if args.count else f"{args.duration:g} s"


def fmt(v: Any) -> str:
    return "-" if v is None else f"{v}"


def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    out = sys.stdout
    print(f"\nAccess throughput: {args.clients} clients, {args.workers} workers, "
          f"{args.warmup:g} s warm-up + {span(args)}, flow {args.flow}", file=out)
    for r in results:
        b, w = r["baseline_health"], r["proposals"]
        over = (", database over its Unix socket" if args.pg_connection == "socket" else
                ", database over loopback TCP") if r["backend"] == "postgresql" else ""
        print(f"\n== {r['backend']} ({r['server_command']}){over}", file=out)
        print(f"  accepted proposals/s   {w['accepted_per_s']:>8}   ({w['accepted']} in "
              f"{w['window_s']} s)", file=out)
        print(f"  requests/s             {w['requests_per_s']:>8}", file=out)
        print(f"  errors                 {w['errors']:>8}   (in window: {w['errors_in_window']})",
              file=out)
        for sample in w["error_samples"]:
            print(f"    e.g. {sample}", file=out)
        print("  latency ms        n     p50     p95     p99     max", file=out)
        for kind in ("pair", *FLOW_KINDS[args.flow]):
            s = w["latency"][kind]
            print(f"    {kind:<10} {s['n']:>6} {fmt(s['p50_ms']):>7} {fmt(s['p95_ms']):>7} "
                  f"{fmt(s['p99_ms']):>7} {fmt(s['max_ms']):>7}", file=out)
        late = w.get("overran_window", {}).get("pair", 0)
        if late:
            print(f"    ({late} applications under way at the window's end are in the "
                  "percentiles, not in the throughput)", file=out)
        s = b["latency"]["health"]
        print(f"  baseline GET /health   {b['requests_per_s']:>8} req/s   p50 {fmt(s['p50_ms'])} "
              f"p99 {fmt(s['p99_ms'])} ms, errors {b['errors']}, server CPU "
              f"{fmt(b.get('cpu_ms_per_request', {}).get('server'))} ms/request", file=out)
        ratio = r["ratio_to_baseline"]
        print(f"  ratio to baseline      accepted/s {ratio['accepted_per_s']:.3f}   "
              f"requests/s {ratio['requests_per_s']:.3f}", file=out)
        cpu = w.get("cpu_ms_per_accepted", {})
        busy = {k: round(v / w["window_s"], 2) for k, v in w["cpu_s"].items()}
        print(f"  cores busy             server {busy['server']}   database {busy['database']}   "
              f"load generator {busy['load_generator']}   other processes "
              f"{busy['other_processes']}   (of {os.cpu_count()})", file=out)
        print(f"  CPU per accepted (ms)  server {fmt(cpu.get('server'))}   database "
              f"{fmt(cpu.get('database'))}   load generator {fmt(cpu.get('load_generator'))}",
              file=out)
        split = w.get("clients_per_process", {})
        print("  clients per process    " + "   ".join(
            f"{when} {'/'.join(map(str, split[when])) or '-'}" for when in ("start", "end")
            if when in split), file=out)
        t = r["targets"]
        p99 = w["latency"]["pair"]["p99_ms"]
        print(f"  target ≥ {TARGET_ACCEPTED_PER_S:g} accepted/s     "
              f"{'MET' if t['accepted_per_s>=200'] else 'MISSED'} "
              f"({w['accepted_per_s'] / TARGET_ACCEPTED_PER_S:.0%} of target)", file=out)
        print(f"  target p99 < {TARGET_P99_MS:g} ms (pair)  "
              f"{'MET' if t['p99_pair_ms<250'] else 'MISSED'} ({fmt(p99)} ms); per request: "
              f"{'MET' if t['p99_each_request_ms<250'] else 'MISSED'}", file=out)
        a = r.get("after_run") or {}
        if a:
            print(f"  after the run          proposals {a['proposals_by_state']}, allocations "
                  f"{a['allocations']}, audit chain "
                  f"{'ok' if a['audit_chain_ok'] else 'BROKEN'} ({a['audit_entries']} entries)",
                  file=out)
        if "pg_sessions" in w:
            print("  PostgreSQL sessions (mean number, sampled every 50 ms):", file=out)
            for what, n in w["pg_sessions"]["mean_sessions"][:8]:
                print(f"    {n:6.2f}  {what}", file=out)
        for name, prof in r.get("profile", {}).items():
            what = ("holding the GIL (CPU)" if name == "cpu"
                    else "of non-idle threads (wall: CPU + waiting in the driver)")
            print(f"  py-spy, share of samples {what}:", file=out)
            for label, p in prof["groups_pct"]:
                print(f"    {p:5.1f} %  {label}", file=out)
            print("    by layer (innermost frame): " + ", ".join(
                f"{label} {p:g} %" for label, p in prof["layers_pct"]), file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgresql",
                    help="comma-separated: sqlite, postgresql (default: both)")
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    ap.add_argument("--duration", type=float, default=20.0,
                    help="measured seconds after the warm-up (default 20)")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (default 3)")
    ap.add_argument("--count", type=int, default=None,
                    help="instead of --duration: stop after this many accepted pairs")
    ap.add_argument("--baseline-duration", type=float, default=5.0,
                    help="measured seconds of the GET /health baseline (default 5)")
    ap.add_argument("--baseline-warmup", type=float, default=1.0)
    ap.add_argument("--client", choices=["raw", "httpx"], default="raw",
                    help="load generator's HTTP client: 'raw' keep-alive HTTP/1.1 on asyncio "
                         "streams (default, ~0.08 ms CPU a request) or httpx.AsyncClient")
    ap.add_argument("--flow", choices=sorted(FLOW_KINDS), default="one-request",
                    help="one POST that drafts, attaches the self-assessment and submits "
                         "(default), or the three requests of the portal's wizard")
    ap.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    ap.add_argument("--pool-size", default="10", help="FABRIEK_DB_POOL_SIZE (default 10)")
    ap.add_argument("--server", choices=["auto", "fabriek", "uvicorn"], default="fabriek",
                    help="'fabriek' (default): python -m fabriek serve; 'uvicorn': uvicorn "
                         "--factory APP (for experiments); 'auto': fabriek if it has `serve`")
    ap.add_argument("--app", default="fabriek.api.app:create_app",
                    help="with --server uvicorn: the app factory (for experiments)")
    ap.add_argument("--no-migrate", dest="migrate", action="store_false",
                    help="pass --no-migrate to fabriek serve (the bootstrap migrates anyway)")
    ap.add_argument("--no-verify", dest="verify", action="store_false",
                    help="skip the after-run check of states and the audit chain")
    ap.add_argument("--profile", metavar="DIR",
                    help="record the server with py-spy during the measured window")
    ap.add_argument("--pg-connection", choices=["socket", "tcp"], default="socket",
                    help="how the API reaches PostgreSQL: its Unix socket (default; a database "
                         "on the API's host is reached so) or loopback TCP")
    ap.add_argument("--no-pg-activity", dest="pg_activity", action="store_false",
                    help="do not sample pg_stat_activity during the PostgreSQL run")
    ap.add_argument("--json", metavar="OUT", help="write all figures as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    args = ap.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if bad := [b for b in backends if b not in ("sqlite", "postgresql")]:
        ap.error(f"unknown backend(s): {', '.join(bad)}")
    if args.clients < 1 or args.workers < 1 or args.duration <= 0:
        ap.error("--clients, --workers and --duration must be positive")

    server_kind = args.server
    if server_kind == "fabriek" and not serve_available():
        ap.error("`python -m fabriek serve --help` fails here; use --server uvicorn or auto")
    if server_kind == "auto":
        server_kind = "fabriek" if serve_available() else "uvicorn"
        if server_kind == "uvicorn":
            log("WARNING: `python -m fabriek serve` is not available; falling back to uvicorn "
                "--factory fabriek.api.app:create_app (figures are not of `fabriek serve`)")

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    results: list[dict[str, Any]] = []
    try:
        for backend in backends:
            results.append(run_backend(backend, args, server_kind))
    except KeyboardInterrupt:
        log("interrupted; servers stopped")
        return 130
    print_report(results, args)
    if args.json:
        doc = {"command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
               "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
               "settings": {k: v for k, v in vars(args).items() if k != "json"},
               "server": server_kind, "targets": {"accepted_per_s": TARGET_ACCEPTED_PER_S,
                                                  "p99_ms": TARGET_P99_MS},
               "results": results}
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
