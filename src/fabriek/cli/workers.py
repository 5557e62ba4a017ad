"""Several API processes on one port, each with a listening socket of its own (SO_REUSEPORT).

uvicorn's own workers share one listening socket, and whichever process wakes first accepts a
whole burst of new connections: 32 clients connecting at once were split 25/7, even 32/0,
between two workers. The writers of the processes take turns at SQLite's lock
(db.session.WriterLock), so the crowded process's clients waited longest, and a process
without connections idled. With a socket per process the kernel spreads new connections over
the processes by a hash of their addresses.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from typing import Any

APP = "fabriek.api.app:serve_app"
_BACKLOG = 2048  # uvicorn's default
_FAILED_START_S = 10.0  # a worker that exits this soon failed to start: stop, do not respawn


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port yet (checked without SO_REUSEPORT, so another
    `fabriek serve` with its own sockets on the port counts as there)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    import uvicorn

    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(_BACKLOG)
    uvicorn.Server(uvicorn.Config(APP, factory=True, **options)).run(sockets=[sock])


def run(host: str, port: int, workers: int, **options: Any) -> int:
    """Run `workers` API processes until SIGINT or SIGTERM; respawn one that dies. Returns the
    exit status: 1 when a worker failed to start."""
    context = multiprocessing.get_context("spawn")

    def start() -> tuple[BaseProcess, float]:
        process = context.Process(target=_worker, args=(host, port, options), daemon=False)
        process.start()
        return process, time.monotonic()

    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, (process, started) in enumerate(procs):
                if process.is_alive() or stopping:
                    continue
                if time.monotonic() - started < _FAILED_START_S:
                    print(f"an API worker exited {process.exitcode} while starting; stopping",
                          file=sys.stderr)
                    stopping.append(0)
                    status = 1
                    break
                print(f"an API worker exited {process.exitcode}; starting another",
                      file=sys.stderr)
                procs[i] = start()
    finally:
        for process, _ in procs:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests under way
        for process, _ in procs:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status
