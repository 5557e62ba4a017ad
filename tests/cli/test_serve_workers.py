"""`fabriek serve --workers N`: N processes, each with a listening socket of its own on the
one port (fabriek.cli.workers), stopped together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> int:
    """How many sockets listen on 127.0.0.1:port (state 0A in /proc/net/tcp)."""
    wanted = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == wanted and line.split()[3] == "0A")


def _serve(port: int, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "FABRIEK_DATA_DIR": str(data_dir), "FABRIEK_RECONCILER": "false"}
    env.pop("FABRIEK_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "fabriek", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_workers_each_listen_and_stop_together(tmp_path: Path):
    port = _free_port()
    server = _serve(port, tmp_path)
    try:
        deadline = time.monotonic() + 90
        while _listening(port) < 2:
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "two workers did not start listening"
            time.sleep(0.2)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(20):  # new connections, spread over both sockets
                r = client.get("/api/v1/health", headers={"Connection": "close"})
                assert r.status_code == 200 and r.json()["status"] == "ok"

        second = _serve(port, tmp_path)  # the port is taken: refused, not shared
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 1 and "already in use" in out, out
        assert _listening(port) == 2
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0
    assert _listening(port) == 0
