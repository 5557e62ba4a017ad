"""What every command reads from the root callback: where the server is, the token, and how
to build a client or reach the database. Tests pass their own `CliContext` as the Typer `obj`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import typer

from fabriek.client import DEFAULT_SERVER, FabriekClient
from fabriek.settings import Settings

ClientFactory = Callable[[str, str | None], FabriekClient]


def default_client_factory(server: str, token: str | None) -> FabriekClient:
    return FabriekClient(server, token)


@dataclass
class CliContext:
    """Per-invocation state; `client_factory` and `settings_factory` are the seams for tests."""

    client_factory: ClientFactory = default_client_factory
    # Operator commands build Settings lazily: `fabriek demo` changes FABRIEK_* first.
    settings_factory: Callable[[], Settings] = Settings
    server: str = DEFAULT_SERVER
    token: str | None = None
    debug: bool = False
    command_path: str = "fabriek"
    _clients: list[FabriekClient] = field(default_factory=list)

    def client(self, token: str | None = None) -> FabriekClient:
        client = self.client_factory(self.server, token or self.token)
        self._clients.append(client)
        return client

    def settings(self) -> Settings:
        return self.settings_factory()

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


def cli_context(ctx: typer.Context) -> CliContext:
    """The invocation's CliContext; also remembers which command runs, for error hints."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
    root.obj.command_path = ctx.command_path
    return root.obj


def client(ctx: typer.Context) -> FabriekClient:
    return cli_context(ctx).client()
