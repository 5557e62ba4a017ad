"""SlurmExecutor: the Executor protocol over slurmrestd, with Slurm's CLI where REST cannot.

REST does submit, poll, find, cancel, ping and the accounting look-ups. The command line is the
fall-back for what no REST version can do (scontrol requeue), for accounting when slurmrestd
serves no slurmdb plugin (sacct), and for the exit code Slurm 22.05's slurmdb REST reports as 0
(sacct has it right). A slurmrestd that does not answer raises ExecutorUnavailable; the CLI is not
used to route around an outage.

Our id travels as the job comment `fabriek:job=<id>` (AccountingStoreFlags=job_comment keeps it
in slurmdbd), so find() recognises the job in slurmctld and, after MinJobAge, in accounting.
Output goes to <scratch_dir>/<job name>-<our id>/{stdout,stderr}.log, which the broker reads back:
scratch_dir must be a file system that both the compute nodes and the broker see.

A job with datasets is submitted held, its datasets are copied to
<scratch_dir>/<job name>-<our id>/datasets/<slug>/ and verified (compute.executors.staging),
and only then is it released (a REST job update; scontrol release as fall-back); if they do
not verify, the held job is cancelled and never runs. A broker that stopped in between leaves
a held job that find() returns: finish_hand_over() completes the staging and the release.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from fabriek.compute.enums import ExternalState
from fabriek.compute.executors import staging
from fabriek.compute.executors.base import (
    ExecutorError,
    ExecutorJob,
    ExecutorUnavailable,
    JobRejected,
    JobSnapshot,
    Stream,
    UnknownJob,
)
from fabriek.compute.executors.slurm import parse
from fabriek.compute.executors.slurm.commands import (
    CommandFailed,
    Sacct,
    ScontrolRelease,
    ScontrolRequeue,
)
from fabriek.compute.executors.slurm.rest import (
    ESLURM_ALREADY_DONE,
    ESLURM_JOB_HELD,
    RestPathMissing,
    SlurmRestClient,
)
from fabriek.compute.executors.slurm.versions import (
    ApiPaths,
    Feature,
    SubmitRequest,
    db_jobs_query,
    parse_version,
    release_body,
    submit_body,
    supports,
)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ESLURM_REST_EMPTY_RESULT = 9003  # slurmdb: "Nothing found with query"
# What the CLI prints when the controller or the database does not answer.
_CLI_UNAVAILABLE = ("unable to contact slurm controller", "socket timed out",
                    "connection refused", "zero bytes were transmitted",
                    "slurmdbd: connection", "problem talking to the database")
POLL_ONE_BY_ONE = 8  # up to this many ids: GET /job/{id} each; more: one GET /jobs
LOG_PATHS_KEPT = 4096  # external id -> output files, remembered for read_log


class CliRunner:
    """Runs a Slurm command (argv, no shell) and returns its stdout.

    Raises CommandFailed on a non-zero exit, ExecutorUnavailable when the controller does not
    answer or the command times out, ExecutorError when the command is not installed.
    """

    def __init__(self, *, timeout_s: float = 30.0, env: Mapping[str, str] | None = None) -> None:
        self.timeout_s = timeout_s
        self.env = dict(env or {})

    def __call__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 stdin: str | None = None, inherit_env: bool = True) -> str:
        full_env = {**(os.environ if inherit_env else {}), **self.env, **(env or {})}
        try:
            done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                                  env=full_env, timeout=self.timeout_s, check=False)
        except FileNotFoundError as exc:
            raise ExecutorError(f"{argv[0]} is not installed here: no Slurm CLI fall-back") \
                from exc
        except subprocess.TimeoutExpired as exc:
            raise ExecutorUnavailable(f"{argv[0]} did not finish in {self.timeout_s:g} s") \
                from exc
        if done.returncode != 0:
            # sacctmgr and scontrol print some refusals on stdout
            message = "\n".join(part for part in (done.stderr, done.stdout) if part.strip())
            if any(phrase in message.lower() for phrase in _CLI_UNAVAILABLE):
                raise ExecutorUnavailable(f"{argv[0]}: {message.strip()[-300:]}")
            raise CommandFailed(argv, done.returncode, message)
        return done.stdout


class SlurmExecutor:
    """Runs jobs on a Slurm cluster through slurmrestd (JWT)."""

    name = "slurm"

    def __init__(self, rest_url: str, user: str, *, token: str | None = None,
                 jwt_key_path: str | Path | None = None, api_version: str = "0.0.38",
                 cluster: str | None = None,
                 scratch_dir: str | Path = "/tmp/fabriek-slurm",
                 use_cli_fallback: bool = True, make_dirs: bool = True,
                 job_path: str = DEFAULT_PATH, find_lookback_days: int = 30,
                 timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None,
                 runner: CliRunner | None = None, namespace: str | None = None) -> None:
        self.version = parse_version(api_version)
        self.namespace = namespace  # the installation's, in every job comment
        self.paths = ApiPaths(self.version)
        self.user = user
        self.cluster = cluster
        self.scratch_dir = Path(scratch_dir)
        self.use_cli_fallback = use_cli_fallback
        self.make_dirs = make_dirs
        self.job_path = job_path
        self.find_lookback_days = find_lookback_days
        self.rest = SlurmRestClient(rest_url, user, token=token, jwt_key_path=jwt_key_path,
                                    timeout_s=timeout_s, transport=transport)
        self.runner = runner or CliRunner()
        self._log_paths: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        self.rest.close()

    # ------------------------------------------------------------------------- submit
    def job_dir(self, job: ExecutorJob) -> Path:
        return self.scratch_dir / f"{job.name}-{job.job_id}"

    def submit_request(self, job: ExecutorJob) -> SubmitRequest:
        """What we ask Slurm for; pure apart from reading the executor's settings."""
        if job.nodes < 1 or job.gpus % job.nodes:
            raise JobRejected(f"{job.gpus} GPUs cannot be spread evenly over {job.nodes} nodes")
        out_dir = self.job_dir(job)
        # environment is mandatory in 0.0.38 (error 2127 without it): a minimal PATH, the
        # user's variables (validated in compute.spec), and our id
        env = {"PATH": self.job_path, **job.env, "FABRIEK_JOB_ID": str(job.job_id)}
        if job.datasets:
            env[staging.ENV_VAR] = str(out_dir / "datasets")
        return SubmitRequest(
            script=job.script, name=job.name, partition=job.partition or None,
            account=job.account.lower() if job.account else None,  # sacctmgr lower-cases
            qos=job.qos, gpus_per_node=job.gpus // job.nodes, nodes=job.nodes,
            cpus_per_task=job.cpus, memory_per_node_mb=job.memory_mb,
            time_limit_minutes=job.time_limit_minutes, environment=env,
            working_directory=str(out_dir), standard_output=str(out_dir / "stdout.log"),
            standard_error=str(out_dir / "stderr.log"),
            comment=parse.comment_for(job.job_id, self.namespace), hold=bool(job.datasets))

    def submit(self, job: ExecutorJob) -> str:
        request = self.submit_request(job)
        if self.make_dirs:
            try:
                Path(request.working_directory).mkdir(mode=0o750, parents=True, exist_ok=True)
            except OSError as exc:
                raise ExecutorError(f"cannot create the job directory "
                                    f"{request.working_directory}: {exc.strerror}") from exc
        reply = self.rest.request("POST", self.paths.submit,
                                  body=submit_body(request, self.version), submitting=True,
                                  tolerate={ESLURM_JOB_HELD} if request.hold else frozenset())
        try:
            external_id = parse.submitted_job_id(reply)
        except ValueError as exc:
            raise ExecutorError(f"slurmrestd accepted the job but {exc}") from exc
        self._remember_paths(external_id, (request.standard_output, request.standard_error))
        if job.datasets:
            self._stage_and_release(job, external_id)
        return external_id

    # ---------------------------------------------------------------- staging datasets
    def _stage_and_release(self, job: ExecutorJob, external_id: str) -> None:
        """Copy the job's datasets to its directory, verify them, then lift the hold.

        Verification failing cancels the held job (it must never run without its data) and
        raises StagingFailed; a release that fails leaves the job held for the next pass to
        release (finish_hand_over), and raises.
        """
        try:
            staging.place(job.datasets, self.job_dir(job) / "datasets", link=False)
        except staging.StagingFailed:
            with contextlib.suppress(ExecutorError):
                self.cancel(external_id)
            raise
        self.release(external_id)

    def finish_hand_over(self, job: ExecutorJob, found: JobSnapshot) -> None:
        """A job of ours that is still held by us (a broker stopped between submit and
        release): stage again from scratch, verify, release. Anything else: leave it be."""
        if not job.datasets or found.state is not ExternalState.queued:
            return
        live = self._live_job(found.external_id)
        if live is None or parse.no_val(live.get("priority")) not in (0, None) \
                or parse.job_snapshot(live).reason != "JobHeldUser":
            return
        self._remember_paths(found.external_id, (str(self.job_dir(job) / "stdout.log"),
                                                 str(self.job_dir(job) / "stderr.log")))
        self._stage_and_release(job, found.external_id)

    def release(self, external_id: str) -> None:
        """Lift the user hold of a job we submitted held: a REST job update, or scontrol
        release where slurmrestd does not serve the update path."""
        _check_id(external_id)
        try:
            self.rest.post(self.paths.job(external_id), release_body(self.version))
            return
        except RestPathMissing:
            if not self.use_cli_fallback:
                raise
        try:
            self.runner(ScontrolRelease(external_id).build(), env=self._cli_auth())
        except CommandFailed as exc:
            raise ExecutorError(f"scontrol release {external_id} failed: {exc.stderr}") \
                from exc

    def _remember_paths(self, external_id: str, paths: tuple[str, str]) -> None:
        if len(self._log_paths) >= LOG_PATHS_KEPT:  # oldest first (dicts keep insertion order)
            del self._log_paths[next(iter(self._log_paths))]
        self._log_paths[external_id] = paths

    # --------------------------------------------------------------------------- find
    def find(self, job_id: int) -> JobSnapshot | None:
        """The newest job carrying our id: in slurmctld first, then in accounting."""
        reply = self.rest.get(self.paths.jobs)
        live = [job for job in reply.get("jobs") or () if self._ours(job, job_id)]
        if live:
            return parse.job_snapshot(_newest(live, lambda j: parse.no_val(j.get("submit_time"))))
        return self.find_in_accounting(job_id)

    def find_in_accounting(self, job_id: int) -> JobSnapshot | None:
        """Look our id up in slurmdbd: slurmdb REST, or sacct where slurmrestd has no
        slurmdb plugin. Only jobs of our user count: anyone can write a comment."""
        since = time.time() - self.find_lookback_days * 86400
        if supports(self.version, Feature.slurmdb):
            params = db_jobs_query(self.version, since=since, user=self.user, cluster=self.cluster)
            try:
                reply = self.rest.request("GET", self.paths.db_jobs, params=params,
                                          tolerate={ESLURM_REST_EMPTY_RESULT})
            except RestPathMissing:
                pass
            else:
                found = [job for job in reply.get("jobs") or ()
                         if job.get("user") == self.user
                         and parse.job_id_from_comment(job.get("comment"),
                                                       self.namespace) == job_id]
                if not found:
                    return None
                newest = _newest(found, _db_submitted)
                return self._with_cli_exit_code(parse.db_job_snapshot(newest))
        if not self.use_cli_fallback:
            return None
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since))
        rows = self._sacct(Sacct(start=start, users=[self.user]))
        found = [row for row in rows
                 if parse.job_id_from_comment(row["Comment"], self.namespace) == job_id]
        if not found:
            return None
        return parse.sacct_snapshot(_newest(found, lambda r: int(r["Submit"]) if
                                            r["Submit"].isdigit() else 0))

    def _ours(self, job: Mapping[str, Any], job_id: int) -> bool:
        return (parse.job_id_from_comment(job.get("comment"), self.namespace) == job_id
                and job.get("user_name", self.user) == self.user)

    # --------------------------------------------------------------------------- poll
    def poll(self, external_ids: Sequence[str]) -> dict[str, JobSnapshot]:
        # ids that cannot be Slurm's (digits only) are unknown to it: left out, like aged-out ones
        wanted = [str(external_id) for external_id in external_ids if str(external_id).isdigit()]
        found: dict[str, JobSnapshot] = {}
        if len(wanted) <= POLL_ONE_BY_ONE:
            for external_id in wanted:
                job = self._live_job(external_id)
                if job is not None:
                    found[external_id] = parse.job_snapshot(job)
        else:
            reply = self.rest.get(self.paths.jobs)
            ids = set(wanted)
            for job in reply.get("jobs") or ():
                if str(job.get("job_id")) in ids:
                    found[str(job["job_id"])] = parse.job_snapshot(job)
        for external_id in wanted:
            if external_id not in found:  # past MinJobAge: only accounting remembers it
                snapshot = self.accounting_snapshot(external_id)
                if snapshot is not None:
                    found[external_id] = snapshot
        return found

    def _live_job(self, external_id: str) -> dict[str, Any] | None:
        """The slurmctld record, or None if slurmctld no longer (or never) had it."""
        _check_id(external_id)
        try:
            reply = self.rest.get(self.paths.job(external_id))
        except UnknownJob:
            return None
        jobs = [job for job in reply.get("jobs") or () if str(job.get("job_id")) == external_id]
        return jobs[0] if jobs else None

    def accounting_snapshot(self, external_id: str) -> JobSnapshot | None:
        """What slurmdbd knows about a job (the last run of a requeued one), or None."""
        _check_id(external_id)
        if supports(self.version, Feature.slurmdb):
            try:
                reply = self.rest.request("GET", self.paths.db_job(external_id),
                                          tolerate={ESLURM_REST_EMPTY_RESULT})
            except RestPathMissing:
                pass
            except UnknownJob:
                return None
            else:
                jobs = [job for job in reply.get("jobs") or ()
                        if str(job.get("job_id")) == external_id]
                if not jobs:
                    return None
                return self._with_cli_exit_code(parse.db_job_snapshot(_newest(jobs,
                                                                              _db_submitted)))
        if not self.use_cli_fallback:
            return None
        rows = self._sacct(Sacct(job_ids=[external_id]))
        return parse.sacct_snapshot(rows[-1]) if rows else None

    def _with_cli_exit_code(self, snapshot: JobSnapshot) -> JobSnapshot:
        """Slurm 22.05's slurmdb REST loses non-zero exit codes and signals; sacct has them."""
        if (snapshot.state not in (ExternalState.failed, ExternalState.timeout)
                or snapshot.exit_code is not None
                or snapshot.signal is not None or not self.use_cli_fallback):
            return snapshot
        try:
            rows = self._sacct(Sacct(job_ids=[snapshot.external_id]))
        except ExecutorError:
            return snapshot
        if not rows:
            return snapshot
        from_cli = parse.sacct_snapshot(rows[-1])
        return JobSnapshot(**{**snapshot.__dict__, "exit_code": from_cli.exit_code,
                              "signal": from_cli.signal})

    def _sacct(self, command: Sacct) -> list[dict[str, str]]:
        try:
            return command.parse(self.runner(command.build(), env={**command.env(),
                                                                     **self._cli_auth()}))
        except CommandFailed as exc:
            raise ExecutorError(f"sacct failed: {exc.stderr[-300:]}") from exc

    # ------------------------------------------------------------------ cancel, requeue
    def cancel(self, external_id: str) -> None:
        _check_id(external_id)
        try:
            self.rest.request("DELETE", self.paths.job(external_id),
                              tolerate={ESLURM_ALREADY_DONE})
        except UnknownJob:
            # gone from slurmctld: fine if it finished long ago, an error if it never existed
            if self.accounting_snapshot(external_id) is None:
                raise

    def requeue(self, external_id: str) -> None:
        """Stop a running job and queue it again (same id). Pending or finished: no-op; a
        finished job would otherwise run again."""
        job = self._live_job(external_id)
        if job is None:
            if self.accounting_snapshot(external_id) is None:
                raise UnknownJob(f"Slurm has no job {external_id}")
            return
        if parse.job_snapshot(job).state is not ExternalState.running:
            return
        # No slurmrestd version can requeue (Feature.rest_requeue): scontrol it is
        if not self.use_cli_fallback:
            raise ExecutorError("requeue needs scontrol (no slurmrestd version can requeue); "
                                "the CLI fall-back is switched off")
        command = ScontrolRequeue(external_id)
        try:
            self.runner(command.build(), env=self._cli_auth())
        except CommandFailed as exc:
            text = exc.stderr.lower()
            if "invalid job id" in text:
                raise UnknownJob(f"Slurm has no job {external_id}") from exc
            if "pending execution" in text or "already completing" in text:
                return
            raise ExecutorError(f"scontrol requeue {external_id} failed: {exc.stderr}") from exc

    def _cli_auth(self) -> dict[str, str]:
        """Commands act as the same user as REST: auth/jwt through SLURM_JWT."""
        return {"SLURM_JWT": self.rest.token()}

    # ------------------------------------------------------------------------------ logs
    def read_log(self, external_id: str, stream: Stream, offset: int = 0,
                 limit: int = 1 << 20) -> tuple[bytes, int]:
        stdout, stderr = self._paths_for(external_id)
        path = Path(stdout if stream == "stdout" else stderr)
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read(max(0, limit))
        except FileNotFoundError:
            return b"", offset  # not started yet
        except OSError as exc:
            raise ExecutorError(f"cannot read {path}: {exc.strerror}") from exc
        return data, offset + len(data)

    def _paths_for(self, external_id: str) -> tuple[str, str]:
        if external_id in self._log_paths:
            return self._log_paths[external_id]
        job = self._live_job(external_id)
        if job is not None:
            name = str(job.get("name") or "")
            stdout = _expand(str(job.get("standard_output") or ""), external_id, name, self.user)
            stderr = _expand(str(job.get("standard_error") or ""), external_id, name, self.user)
            paths = (stdout, stderr or stdout)  # no standard_error: merged into stdout
        else:
            paths = self._paths_from_accounting(external_id)
        self._remember_paths(external_id, paths)
        return paths

    def _paths_from_accounting(self, external_id: str) -> tuple[str, str]:
        """After MinJobAge slurmdbd has the name and our comment: rebuild our layout."""
        name, job_id = "", None
        if supports(self.version, Feature.slurmdb):
            try:
                reply = self.rest.request("GET", self.paths.db_job(external_id),
                                          tolerate={ESLURM_REST_EMPTY_RESULT})
                jobs = reply.get("jobs") or []
                if jobs:
                    name = str(jobs[-1].get("name") or "")
                    job_id = parse.job_id_from_comment(jobs[-1].get("comment"), self.namespace)
            except RestPathMissing:
                pass
        if job_id is None and self.use_cli_fallback:
            rows = self._sacct(Sacct(job_ids=[external_id]))
            if rows:
                name = rows[-1]["JobName"]
                job_id = parse.job_id_from_comment(rows[-1]["Comment"], self.namespace)
        if job_id is None or not name:
            raise UnknownJob(f"Slurm has no job {external_id} submitted by Fabriek")
        out_dir = self.scratch_dir / f"{name}-{job_id}"
        return str(out_dir / "stdout.log"), str(out_dir / "stderr.log")

    # ------------------------------------------------------------------------------ ping
    def ping(self) -> bool:
        try:
            return parse.ping_ok(self.rest.get(self.paths.ping))
        except ExecutorError:
            return False

    # ------------------------------------------------------------------ provisioning
    def provision(self, account: str, gpu_minutes_limit: int, qos: Sequence[str]) -> None:
        """The allocation's account, its GPU-minute limit and QOS (sacctmgr; idempotent)."""
        from fabriek.compute.executors.slurm.provision import ensure_account

        ensure_account(account, gpu_minutes_limit, qos, users=[self.user], cluster=self.cluster,
                       runner=self.runner)

    def deprovision(self, account: str) -> None:
        from fabriek.compute.executors.slurm.provision import close_account

        close_account(account, cluster=self.cluster, runner=self.runner)


def _check_id(external_id: str) -> None:
    # the id becomes part of a URL path and an argv word: digits only (no arrays/het jobs)
    if not str(external_id).isdigit():
        raise UnknownJob(f"not a Slurm job id: {external_id!r}")


def _newest(items: list[Any], key: Any) -> Any:
    """The item with the highest key; on a tie the later one (slurmdbd lists runs in order)."""
    return max(enumerate(items), key=lambda pair: (key(pair[1]) or 0, pair[0]))[1]


def _db_submitted(job: Mapping[str, Any]) -> int:
    time_info = job.get("time")
    return (parse.no_val(time_info.get("submission")) or 0) if isinstance(time_info, Mapping) \
        else 0


def _expand(pattern: str, external_id: str, name: str, user: str) -> str:
    """The few filename patterns of sbatch(1) that a fixed path could contain."""
    if "%" not in pattern:
        return pattern
    replacements = {"%j": external_id, "%x": name, "%u": user, "%%": "%"}
    out, index = [], 0
    while index < len(pattern):
        pair = pattern[index:index + 2]
        if pair in replacements:
            out.append(replacements[pair])
            index += 2
        else:
            out.append(pattern[index])
            index += 1
    return "".join(out)
