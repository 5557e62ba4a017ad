"""Slurm accounts for allocations, through sacctmgr (an operator's tool: it needs admin rights).

When an allocation becomes active the service calls ensure_account(): one Slurm account per
allocation, its GPU-minute budget as GrpTRESMins=gres/gpu=N (with
AccountingStorageEnforce=limits,safe a job starts only if GPUs x time limit fits in what is
left), the QOS of its priority class, and associations for the users that submit (the REST
user). When it ends, close_account() stops new jobs (GrpSubmitJobs=0, GrpJobs=0) and keeps the
account, so accounting history stays readable; cancelling what still runs is the service's call.

Both are idempotent. Slurm stores account names in lower case (sacctmgr lower-cases them), so
names are lower-cased here and the name actually used is returned.

Account limits go through sacctmgr, not slurmdb REST: in 22.05 (dbv0.0.38) POST associations
without a user is refused ("Missing required field 'user'") yet sometimes applied anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fabriek.compute.executors.base import ExecutorError
from fabriek.compute.executors.slurm.commands import CommandFailed, Sacctmgr
from fabriek.compute.executors.slurm.executor import CliRunner

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class AccountState:
    name: str
    gpu_minutes_limit: int | None
    qos: tuple[str, ...]
    users: tuple[str, ...]
    closed: bool
    user_qos: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (user, its QOS)


def slurm_name(name: str) -> str:
    """The name as Slurm stores it; refuses what sacctmgr would mis-read (spaces, '=', ',')."""
    lowered = name.strip().lower()
    if not _NAME.match(lowered):
        raise ValueError(f"{name!r} cannot be a Slurm account, user or QOS name")
    return lowered


def _run(runner: CliRunner, *words: str, changes: bool = True) -> list[list[str]]:
    command = Sacctmgr(words)
    try:
        return command.parse(runner(command.build()))
    except CommandFailed as exc:
        if changes and Sacctmgr.nothing_changed(exc):
            return []
        raise ExecutorError(f"sacctmgr {' '.join(words)}: {exc.stderr[-300:]}") from exc


def _where(account: str, cluster: str | None) -> list[str]:
    return ["where", f"name={account}", *([f"cluster={cluster}"] if cluster else [])]


def account_state(account: str, *, cluster: str | None = None,
                  runner: CliRunner | None = None) -> AccountState | None:
    """The account as Slurm has it, or None if there is none."""
    runner = runner or CliRunner()
    name = slurm_name(account)
    rows = _run(runner, "list", "associations", "where", f"account={name}",
                *([f"cluster={cluster}"] if cluster else []),
                "format=user,grptresmins,qos,grpsubmit,grpjobs", changes=False)
    if not rows:
        return None
    account_row = next((row for row in rows if not row[0]), rows[0])
    limit = None
    for part in account_row[1].split(","):
        key, _, value = part.partition("=")
        if key == "gres/gpu" and value.isdigit():
            limit = int(value)
    return AccountState(
        name=name, gpu_minutes_limit=limit,
        qos=tuple(sorted(q for q in account_row[2].split(",") if q)),
        users=tuple(sorted(row[0] for row in rows if row[0])),
        closed=account_row[3] == "0" or account_row[4] == "0",
        user_qos=tuple(sorted((row[0], tuple(sorted(q for q in row[2].split(",") if q)))
                              for row in rows if row[0])))


def ensure_account(account: str, gpu_minutes_limit: int, qos_names: Sequence[str], *,
                   users: Sequence[str] = (), cluster: str | None = None,
                   organization: str = "fabriek", runner: CliRunner | None = None) -> str:
    """Create or update the Slurm account of an allocation; returns the name Slurm uses.

    Sets GrpTRESMins=gres/gpu=<limit>, the allowed QOS (the first is the default), lifts a
    close_account() block and adds missing user associations. Raises ExecutorError.
    """
    if gpu_minutes_limit < 0:
        raise ValueError("gpu_minutes_limit cannot be negative")
    runner = runner or CliRunner()
    name = slurm_name(account)
    qos = [slurm_name(q) for q in qos_names]
    wanted_users = [slurm_name(u) for u in users]
    where_cluster = [f"cluster={cluster}"] if cluster else []
    current = account_state(name, cluster=cluster, runner=runner)
    if current is None:
        _run(runner, "add", "account", name, *where_cluster,
             f"Organization={organization}", f"Description=fabriek allocation {name}")
    settings = [f"GrpTRESMins=gres/gpu={gpu_minutes_limit}", "GrpSubmitJobs=-1", "GrpJobs=-1"]
    if qos:
        settings += [f"QOS={','.join(qos)}", f"DefaultQOS={qos[0]}"]
    in_place = (current is not None and current.gpu_minutes_limit == gpu_minutes_limit
                and not current.closed and (not qos or current.qos == tuple(sorted(qos))))
    if not in_place:
        _run(runner, "modify", "account", *_where(name, cluster), "set", *settings)
    have_users = set(current.users) if current else set()
    for user in wanted_users:
        if user not in have_users:
            _run(runner, "add", "user", user, f"Account={name}", *where_cluster)
    user_qos = dict(current.user_qos) if current else {}
    for user in wanted_users if qos else ():
        # a user association keeps the QOS it was created with; align it with the account
        if user_qos.get(user) != tuple(sorted(qos)):
            _run(runner, "modify", "user", "where", f"name={user}", f"account={name}",
                 *where_cluster, "set", f"QOS={','.join(qos)}", f"DefaultQOS={qos[0]}")
    return name


def close_account(account: str, *, cluster: str | None = None,
                  runner: CliRunner | None = None) -> str | None:
    """Stop new jobs on the account (submissions refused, pending jobs never start); returns
    the name, or None if Slurm has no such account. Running jobs are left alone."""
    runner = runner or CliRunner()
    name = slurm_name(account)
    if account_state(name, cluster=cluster, runner=runner) is None:
        return None
    _run(runner, "modify", "account", *_where(name, cluster), "set", "GrpSubmitJobs=0",
         "GrpJobs=0")
    return name
