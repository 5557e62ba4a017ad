"""Browser end-to-end fixtures: a real Fabriek server process, a real OpenID provider, Debian's
Chromium driven by Playwright, axe-core, and screenshots kept as test artefacts.

    live_server            .url; .person(email, *roles, password=...) -> E2EPerson with
                           .email/.password/.token/.headers; .client(person) (FabriekClient)
    live_server_config     override in a test module to change the server (LiveServerConfig)
    oidc_provider          the OpenID provider the live server trusts (.issuer, .users)
    page                   pytest-playwright's page, on /usr/bin/chromium (en-GB)
    sign_in(page, person)  through the sign-in form; lands on /me (or next=...)
    check_accessible(page) axe-core, WCAG 2.0/2.1 A and AA: asserts no violations
    screenshot(page, name) a full-page PNG under test-artifacts/screenshots/<module>/

One server (and provider) per test module: tests in a module share its database, so each
test uses its own e-mail addresses and organisations. Mark the tests `@pytest.mark.e2e`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from fabriek.client import FabriekClient
from fabriek.db.session import Database
from fabriek.federation.domain import CapacityBasis
from fabriek.federation.models import Partition
from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.principal import SYSTEM
from fabriek.identity.web import set_password
from fabriek.settings import Settings
from tests.support.browser import AXE_JS, require_chromium, require_node
from tests.support.oidc import OidcProvider, free_port, start_provider

# Playwright adds --headless and a temporary profile itself. The network flags keep Chromium
# from calling Google's hosts, which a closed test network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PASSWORD = "a long enough e2e password"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
ARTIFACTS = Path(os.environ.get("FABRIEK_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts"))
E2E_ROOT = Path(__file__).resolve().parent
# The CI machine has two cores shared with the server, the provider and Chromium: give
# assertions that wait for the page longer than Playwright's default 5 s.
expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/e2e is end to end, marked or not (`-m "not e2e"` leaves it out).
    for item in items:
        if E2E_ROOT in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


# --- the browser -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's /usr/bin/chromium instead of a browser Playwright would download."""
    return {**browser_type_launch_args, "executable_path": require_chromium(),
            "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # English pages whatever the machine's locale; the language tests switch on purpose.
    return {**browser_context_args, "locale": "en-GB",
            "viewport": {"width": 1280, "height": 900}}


# --- the server ------------------------------------------------------------------------------

@dataclass
class LiveServerConfig:
    """How a module's server is set up. Override the `live_server_config` fixture (module
    scope) in a test module to change it, e.g. more GPUs for Fast Lane sizes."""

    # The embedded factory's 4-GPU nodes: one node = 4 local GPU slots (as `fabriek demo`).
    local_gpu_nodes: int = 1
    reconcile_interval_seconds: float = 0.2
    oidc: bool = True
    env: dict[str, str] = field(default_factory=dict)  # more FABRIEK_* settings


@dataclass(frozen=True)
class E2EPerson:
    user_id: int
    email: str
    password: str
    token: str
    roles: tuple[str, ...]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    log: Path
    settings: Settings
    process: subprocess.Popen[bytes]
    database: Database
    oidc: OidcProvider | None

    def person(self, email: str, *roles: Role | str, password: str = PASSWORD,
               name: str = "") -> E2EPerson:
        """A person in the server's database with these global roles (default: applicant),
        a password for the sign-in form and an API token for set-up through the API."""
        chosen = sorted({Role(r) for r in roles} or {Role.applicant})
        with self.database.unit_of_work() as session:
            user = identity.create_user(session, SYSTEM, email=email,
                                        display_name=name or email.split("@")[0], roles=chosen)
            set_password(session, SYSTEM, user, password)
            token = identity.issue_token(session, SYSTEM, user, name="e2e")
            return E2EPerson(user.id, user.email, password, token, tuple(r.value for r in chosen))

    def client(self, person: E2EPerson) -> FabriekClient:
        """The Python API client acting as `person` (close it, or use it in a `with`)."""
        return FabriekClient(self.url, person.token)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture(scope="module")
def live_server_config() -> LiveServerConfig:
    return LiveServerConfig()


@pytest.fixture(scope="module")
def oidc_provider(live_server: LiveServer) -> OidcProvider:
    if live_server.oidc is None:
        pytest.skip("this module's live server runs without OpenID Connect")
    return live_server.oidc


def _prepare_database(settings: Settings, config: LiveServerConfig) -> None:
    """What `fabriek db upgrade` does (schema at head, catalogue seeded), then the embedded
    factory's size, before the server reads it to build its executors."""
    from fabriek.cli.inprocess import upgrade_schema

    upgrade_schema(settings)
    if config.local_gpu_nodes != 1:
        db = Database(settings)
        try:
            with db.unit_of_work() as session:
                session.execute(update(Partition).where(
                    Partition.factory_id == "local", Partition.id == "gpu").values(
                    nodes=config.local_gpu_nodes, capacity_basis=CapacityBasis.operator))
        finally:
            db.dispose()


def _wait_healthy(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer /api/v1/health within {timeout:.0f}"
                               f" s:\n{server.log_tail()}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def live_server(live_server_config: LiveServerConfig,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`fabriek serve` as its own process on a free loopback port: SQLite in a temp dir, the
    local executor, the reconciler on, OpenID Connect against a real provider."""
    require_chromium()
    require_node()
    config = live_server_config
    data_dir = tmp_path_factory.mktemp("live-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The provider first: the server's settings name it, and it must know the callback. Both
    # start at once; the server asks the provider nothing until someone signs in.
    provider = (start_provider([f"{url}/auth/oidc/callback"], log_dir=data_dir, wait=False)
                if config.oidc else None)
    # Nothing of the caller's FABRIEK_* configuration leaks in (a database URL, say).
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIEK_")}
    env.update({
        "FABRIEK_DATA_DIR": str(data_dir), "FABRIEK_PUBLIC_URL": url,
        "FABRIEK_RECONCILER": "true",
        "FABRIEK_RECONCILE_INTERVAL_SECONDS": str(config.reconcile_interval_seconds),
        "FABRIEK_LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1",
        **(provider.environment() if provider else {}), **config.env})
    # The same settings in this process (for .person): explicit values win over os.environ.
    settings = Settings(database_url=None, policy_dir=None,
                        **{k[len("FABRIEK_"):].lower(): v for k, v in env.items()
                           if k.startswith("FABRIEK_")})
    log = data_dir / "server.log"
    process: subprocess.Popen[bytes] | None = None
    database: Database | None = None
    try:
        _prepare_database(settings, config)
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "fabriek", "serve", "--host", "127.0.0.1", "--port",
                 str(port), "--no-migrate"],
                env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        database = Database(settings)
        server = LiveServer(url, data_dir, log, settings, process, database, provider)
        _wait_healthy(server, timeout=60)
        if provider is not None:
            provider.wait_ready()
        yield server
    finally:
        if process is not None:
            _stop(process)
        if database is not None:
            database.dispose()
        if provider is not None:
            provider.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    """A failed test's report ends with the page's address and a screenshot of it, and the
    server's (and provider's) last log lines."""
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    page, server = funcargs.get("page"), funcargs.get("live_server")
    if report.failed and report.when == "call" and isinstance(page, Page):
        # The page as the failure left it (the fixtures are still up at this point).
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", item.name).strip("-")
        path = ARTIFACTS / "failures" / f"{Path(str(item.fspath)).stem}--{name}.png"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
            report.sections.append(("page at the failure", f"{page.url}\nscreenshot: {path}"))
        except Exception as exc:  # a crashed page must not hide the test's own failure
            report.sections.append(("page at the failure", f"no screenshot: {exc}"))
    if report.failed and isinstance(server, LiveServer):
        report.sections.append((f"fabriek server log ({server.log})", server.log_tail()))
        if server.oidc is not None:
            report.sections.append((f"OpenID provider log ({server.oidc.log})",
                                    server.oidc.log_tail(20)))


# --- helpers for the scenarios ----------------------------------------------------------------

@pytest.fixture
def sign_in(live_server: LiveServer) -> Callable[..., None]:
    """sign_in(page, person, next="/me"): through the sign-in form, as a person would."""

    def run(page: Page, person: E2EPerson, next: str = "/me") -> None:
        page.goto(f"{live_server.url}/sign-in?next={quote(next)}")
        form = page.locator("form[action='/sign-in']")
        form.locator("#email").fill(person.email)
        form.locator("#password").fill(person.password)
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        expect(page.locator("header .who"), "the sign-in did not succeed").to_have_text(
            person.email)

    return run


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:5])
        more = f" (+{len(v['nodes']) - 5} more)" if len(v["nodes"]) > 5 else ""
        lines.append(f"- {v['id']} [{v['impact']}]: {v['help']}\n    at {targets}{more}\n"
                     f"    {v['helpUrl']}")
        summary = (v["nodes"][0].get("failureSummary") or "").strip()
        if summary:
            lines.append("    " + summary.replace("\n", "\n    "))
    return "\n".join(lines)


@pytest.fixture(scope="session")
def _axe_source() -> str:
    require_node()
    return AXE_JS.read_text()


@pytest.fixture
def check_accessible(_axe_source: str) -> Callable[..., dict[str, Any]]:
    """check_accessible(page): axe-core over the page as it is now (WCAG 2.0/2.1, A and AA);
    fails listing each violation's rule, impact, elements and help. Returns axe's results."""

    def run(page: Page, *, exclude: list[str] | None = None) -> dict[str, Any]:
        # evaluate(), not add_script_tag(): the portal's CSP forbids inline scripts, and
        # evaluate is not subject to it.
        if page.evaluate("() => typeof window.axe === 'undefined'"):
            page.evaluate(_axe_source)
        results: dict[str, Any] = page.evaluate(
            "([exclude, tags]) => axe.run({exclude: exclude.map(s => [s])},"
            " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            [exclude or [], WCAG_TAGS])
        violations = results["violations"]
        assert not violations, (f"{page.url}: {len(violations)} accessibility violation(s)\n"
                                f"{_describe(violations)}")
        return results

    return run


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """screenshot(page, name): the whole page as a PNG, kept as a test artefact."""
    module = Path(str(request.node.fspath)).stem

    def run(page: Page, name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
        path = ARTIFACTS / "screenshots" / module / f"{safe}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    return run
