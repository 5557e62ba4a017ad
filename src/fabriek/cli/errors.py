"""Known errors become one line and a hint naming the next command; the rest a short notice.

Tracebacks only with --debug or FABRIEK_DEBUG=1 (huggingface_hub's cli/_errors.py does the same).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic
import typer
from typer.core import TyperGroup

from fabriek.cli import output
from fabriek.cli.context import CliContext
from fabriek.client import FabriekApiError
from fabriek.client.datalab import ChecksumMismatch
from fabriek.errors import FabriekError
from fabriek.kit.policydata import PolicyFileError

LISTABLE = {"org": "org list", "proposal": "proposal list", "allocation": "allocation list",
            "review": "review list", "audit": "audit list"}


class InputProblem(Exception):
    """Input the user gave is unusable (an unreadable --file, say): exit 1."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageProblem(InputProblem):
    """The command was called wrongly (options missing or malformed): exit 2."""


@dataclass(frozen=True)
class Problem:
    message: str
    hint: str | None
    exit_code: int = 1


def debug_enabled(state: CliContext | None) -> bool:
    env = os.environ.get("FABRIEK_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    return env or bool(state and state.debug)


def _list_hint(command_path: str) -> str:
    parts = command_path.split()
    group = parts[1] if len(parts) > 1 else ""
    return f"`fabriek {LISTABLE[group]}` shows what you can see" if group in LISTABLE \
        else "check the id"


def _api_problem(exc: FabriekApiError, state: CliContext) -> Problem:
    path = state.command_path
    message = f"{exc.title}: {exc.detail}" if exc.detail != exc.title else exc.detail
    if exc.rule:
        message += f" [{exc.rule}]"
    group = path.split()[1] if len(path.split()) > 1 else ""
    conflict_hints = {
        "proposal": "`fabriek proposal show ID` shows the current state",
        "review": "`fabriek review list` shows your reviews and their state",
        "org": "`fabriek org list` shows the organisations you belong to",
    }
    hints: dict[int, str | None] = {
        401: "get a token on the server host with `fabriek admin create-token --email YOU`, "
             "then `export FABRIEK_TOKEN=...` (or pass --token)",
        403: "`fabriek whoami` shows your roles and organisations",
        404: _list_hint(path),
        409: conflict_hints.get(group),
        422: f"`{path} --help` lists the options and their limits",
    }
    hint = hints.get(exc.status)
    if exc.status >= 500:
        hint = "the server failed; its log has the details (quote the request id)"
    return Problem(message, hint)


def _validation_detail(exc: pydantic.ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
                     for e in exc.errors())


def _policy_problem(exc: PolicyFileError) -> Problem:
    message = str(exc).splitlines()[0]
    if isinstance(exc.__cause__, pydantic.ValidationError):
        # "<file>: N validation errors for X" → "<file>: field: message; ..."
        message = f"{message.split(': ', 1)[0]}: {_validation_detail(exc.__cause__)}"
    return Problem(f"invalid policy file {message}",
                   "fix it, or unset FABRIEK_POLICY_DIR to use the packaged policy")


def describe(exc: BaseException, state: CliContext) -> Problem | None:
    """A Problem for an error we expect and can explain; None for a bug."""
    if isinstance(exc, FabriekApiError):
        return _api_problem(exc, state)
    if isinstance(exc, ChecksumMismatch):
        return Problem(f"checksum mismatch: {exc}",
                       "retry; if it happens again, tell the data steward: the stored file "
                       "may be damaged")
    if isinstance(exc, httpx.TimeoutException):
        return Problem(f"the Fabriek server at {state.server} did not answer in time",
                       "check that `fabriek serve` is running and not overloaded; retry")
    if isinstance(exc, httpx.TransportError):
        return Problem(f"cannot reach the Fabriek server at {state.server} ({exc})",
                       "start one with `fabriek serve`, or point --server / FABRIEK_SERVER at it")
    if isinstance(exc, UsageProblem):
        return Problem(str(exc), exc.hint or f"`{state.command_path} --help` shows the usage", 2)
    if isinstance(exc, InputProblem):
        return Problem(str(exc), exc.hint or f"`{state.command_path} --help` shows the usage")
    if isinstance(exc, pydantic.ValidationError):
        return Problem(f"invalid input: {_validation_detail(exc)}",
                       f"`{state.command_path} --help`")
    if isinstance(exc, PolicyFileError):
        return _policy_problem(exc)
    if isinstance(exc, FabriekError):  # operator commands run the services in-process
        return Problem(f"{exc.title}: {exc.detail}", None)
    # Only operator commands import SQLAlchemy; if it is not loaded, this cannot be its error.
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.OperationalError):
        return Problem(f"database error: {getattr(exc, 'orig', None) or exc}",
                       "check FABRIEK_DATA_DIR / FABRIEK_DATABASE_URL, then `fabriek db upgrade`")
    return None


class FabriekGroup(TyperGroup):
    """The root group: turns exceptions from any subcommand into one readable line."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # Typer's own: usage errors (exit 2), explicit exits, Ctrl-C
        except Exception as exc:
            state = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()
            problem = describe(exc, state)
            if debug_enabled(state):
                raise
            if problem is None:
                output.error(f"unexpected {type(exc).__name__}: {exc}",
                             "rerun with --debug (or FABRIEK_DEBUG=1) for the traceback, and "
                             "report it")
                raise typer.Exit(1) from exc
            output.error(problem.message, problem.hint)
            raise typer.Exit(problem.exit_code) from exc
        finally:
            if isinstance(ctx.obj, CliContext):
                ctx.obj.close()
