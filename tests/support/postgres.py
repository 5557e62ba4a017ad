"""A throw-away PostgreSQL server (Debian's postgresql packages), also when run as root.

initdb and pg_ctl refuse to run as root, so only they run as the `postgres` user, on a data
directory in a fresh temporary directory; the server listens on a loopback port only.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass


def find_pg_bin() -> str | None:
    explicit = os.environ.get("PGBIN")
    if explicit:
        return explicit if os.path.exists(f"{explicit}/pg_ctl") else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def _as_pg(*cmd: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    pg_bin: str
    directory: str
    port: int

    @classmethod
    def start(cls, pg_bin: str) -> PostgresServer:
        directory = tempfile.mkdtemp(prefix="fabriek-pg.")
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        port = free_port()
        data = os.path.join(directory, "data")
        _as_pg(f"{pg_bin}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
               "--locale=C.UTF-8", "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        _as_pg(f"{pg_bin}/pg_ctl", "-D", data, "-l", os.path.join(directory, "server.log"),
               "-w", "-t", "60", "-o", opts, "start")
        return cls(pg_bin, directory, port)

    def create_database(self, name: str) -> str:
        _as_pg(f"{self.pg_bin}/createdb", "-h", self.directory, "-p", str(self.port), "-U",
               "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def restart(self) -> None:
        """Stop and start the server (fast shutdown: open connections are cut)."""
        # With its log file, as at the start: else the server inherits pg_ctl's output pipe
        # and the call never returns.
        _as_pg(f"{self.pg_bin}/pg_ctl", "-D", os.path.join(self.directory, "data"), "-l",
               os.path.join(self.directory, "server.log"), "-m", "fast", "-w", "-t", "60",
               "restart")

    def stop(self) -> None:
        try:
            _as_pg(f"{self.pg_bin}/pg_ctl", "-D", os.path.join(self.directory, "data"), "-m",
                   "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
