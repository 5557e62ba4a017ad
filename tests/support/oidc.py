"""A real OpenID Provider for the tests: tests/e2e/oidc-provider.mjs (npm oidc-provider 9) as a
process on a free loopback port, with one client (the portal) and a few test users."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.browser import E2E_DIR, require_node

CLIENT_ID = "fabriek-portal"
CLIENT_SECRET = "a test client secret"


@dataclass(frozen=True)
class IdpUser:
    username: str
    password: str
    email: str | None
    email_verified: bool
    name: str


# One user per situation, so tests that share a server never share an identity.
USERS = {u.username: u for u in [
    IdpUser("alice", "wonderland", "alice@idp.example", True, "Alice Liddell"),
    IdpUser("dora", "explorer-password", "dora@idp.example", True, "Dora Marquez"),
    IdpUser("bob", "builder-password", "bob@idp.example", False, "Bob Unverified"),
    IdpUser("erin", "erin-password", "erin@idp.example", False, "Erin Unverified"),
    IdpUser("nomail", "nomail-password", None, False, "No Mail"),
    IdpUser("frank", "frank-password", "frank@idp.example", True, "Frank Flow"),
    IdpUser("grace", "grace-password", "grace@idp.example", True, "Grace Hopper"),
]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OidcProvider:
    issuer: str
    process: subprocess.Popen[bytes]
    log: Path
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    users: dict[str, IdpUser] = field(default_factory=lambda: dict(USERS))

    def settings(self) -> dict[str, Any]:
        """The portal's Settings fields that point at this provider."""
        return {"oidc_issuer": self.issuer, "oidc_client_id": self.client_id,
                "oidc_client_secret": self.client_secret, "oidc_label": "Test IdP"}

    def environment(self) -> dict[str, str]:
        """The same as FABRIEK_* environment variables, for a server process."""
        return {f"FABRIEK_{k.upper()}": str(v) for k, v in self.settings().items()}

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.issuer}/.well-known/openid-configuration",
                          timeout=2).raise_for_status()
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the OpenID provider did not start:\n"
                                       f"{self.log_tail()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # it exits on SIGTERM
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_provider(redirect_uris: list[str], *, log_dir: Path | None = None,
                   timeout: float = 30.0, wait: bool = True) -> OidcProvider:
    """Start the provider; with `wait`, until its discovery document answers (about 0.5 s).
    Without, call .wait_ready() later: the live server starts meanwhile."""
    node = require_node()
    port = free_port()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fabriek-idp-"))
    log = log_dir / "oidc-provider.log"
    users = {u.username: {"password": u.password, "email": u.email,
                          "email_verified": u.email_verified, "name": u.name}
             for u in USERS.values()}
    env = {**os.environ, "PORT": str(port), "CLIENT_ID": CLIENT_ID,
           "CLIENT_SECRET": CLIENT_SECRET, "REDIRECT_URIS": " ".join(redirect_uris),
           "USERS": json.dumps(users)}
    with log.open("wb") as sink:
        process = subprocess.Popen([node, str(E2E_DIR / "oidc-provider.mjs")], cwd=E2E_DIR,
                                   env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    provider = OidcProvider(f"http://127.0.0.1:{port}", process, log)
    if wait:
        provider.wait_ready(timeout)
    return provider
