"""Record real slurmrestd v0.0.38 replies as test fixtures (responses/v0.0.38/*.json).

Run against the dev cluster (takes about two minutes, mostly waiting for a time limit):

    bash scripts/slurm-dev-cluster.sh start
    .venv/bin/python tests/compute/executors/slurm/record_responses.py

Every reply is stored exactly as slurmrestd sent it (pretty-printed). Not collected by pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from fabriek.compute.executors.slurm.rest import mint_jwt

HERE = Path(__file__).parent / "responses" / "v0.0.38"
ENV_FILE = Path("/run/fabriek-slurm/env")
ACCOUNT = "fab-record"


def env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


class Rest:
    def __init__(self, url: str, key: Path) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)
        self.token = mint_jwt(key.read_bytes(), "root", 3600)

    def call(self, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any]:
        response = self.http.request(method, path, json=body, params=params or None, headers={
            "X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": self.token})
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text


def save(name: str, status: int, body: Any) -> None:
    (HERE / f"{name}.json").write_text(json.dumps({"http_status": status, "body": body},
                                                  indent=2) + "\n")
    print(f"recorded {name} (HTTP {status})", file=sys.stderr)


def submit(rest: Rest, script: str, *, name: str, gpus: int = 0, minutes: int = 5,
           qos: str | None = None, account: str | None = None, partition: str = "gpu",
           env: dict[str, str] | None = None) -> tuple[int, Any]:
    job: dict[str, Any] = {
        "name": name, "partition": partition, "tasks": 1, "cpus_per_task": 1,
        "memory_per_node": 256, "time_limit": minutes, "nodes": [1, 1],
        "current_working_directory": "/tmp", "standard_output": f"/tmp/{name}.out",
        "standard_error": f"/tmp/{name}.err", "comment": f"fabriek:job={abs(hash(name)) % 1000}",
        "requeue": True, "open_mode": "append"}
    if env is not None:
        job["environment"] = env
    if gpus:
        job["gres"] = f"gpu:{gpus}"
    if qos:
        job["qos"] = qos
    if account:
        job["account"] = account
    return rest.call("POST", "/slurm/v0.0.38/job/submit", {"script": script, "job": job})


def wait(rest: Rest, job_id: int, test: Callable[[dict[str, Any]], bool], timeout: float = 150
         ) -> tuple[int, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = rest.call("GET", f"/slurm/v0.0.38/job/{job_id}")
        if body["jobs"] and test(body["jobs"][0]):
            return status, body
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id}: {body['jobs'][0]['job_state']}")
        time.sleep(0.5)


def state_is(*states: str) -> Callable[[dict[str, Any]], bool]:
    return lambda job: job["job_state"] in states


def main() -> None:
    cfg = env()
    rest = Rest(cfg["SLURM_REST_URL"], Path(cfg["SLURM_JWT_KEY"]))
    path = {"PATH": "/usr/bin:/bin"}
    sh = "#!/bin/bash\n"
    subprocess.run(["sacctmgr", "-i", "add", "account", ACCOUNT], capture_output=True)
    subprocess.run(["sacctmgr", "-i", "add", "user", "root", f"account={ACCOUNT}"],
                   capture_output=True)
    subprocess.run(["sacctmgr", "-i", "modify", "account", ACCOUNT, "set",
                    "GrpTRESMins=gres/gpu=5"], capture_output=True)

    save("ping", *rest.call("GET", "/slurm/v0.0.38/ping"))
    save("submit_missing_environment", *submit(rest, sh + "true\n", name="rec-noenv"))
    save("submit_invalid_account", *submit(rest, sh + "true\n", name="rec-badacct", env=path,
                                           account="no-such-account"))
    save("submit_too_many_gpus", *submit(rest, sh + "true\n", name="rec-gpu5", env=path, gpus=5))
    save("job_unknown", *rest.call("GET", "/slurm/v0.0.38/job/999999"))
    save("cancel_unknown", *rest.call("DELETE", "/slurm/v0.0.38/job/999999"))
    save("db_job_unknown", *rest.call("GET", "/slurmdb/v0.0.38/job/999999"))

    # the time limit runs in the background while the rest is recorded
    _, timeout_reply = submit(rest, sh + "sleep 300\n", name="rec-timeout", env=path, minutes=1,
                              partition="cpu")
    timeout_id = timeout_reply["job_id"]

    status, reply = submit(rest, sh + "echo $CUDA_VISIBLE_DEVICES; sleep 8\n", name="rec-gpu2",
                           env=path, gpus=2)
    save("submit_ok", status, reply)
    gpu_id = reply["job_id"]
    save("job_running_gpu", *wait(rest, gpu_id, state_is("RUNNING")))
    save("job_completed", *wait(rest, gpu_id, state_is("COMPLETED")))
    save("db_job_completed", *rest.call("GET", f"/slurmdb/v0.0.38/job/{gpu_id}"))

    _, reply = submit(rest, sh + "exit 3\n", name="rec-exit3", env=path)
    save("job_failed_exit3", *wait(rest, reply["job_id"], state_is("FAILED")))
    time.sleep(1)
    save("db_job_failed_exit3", *rest.call("GET", f"/slurmdb/v0.0.38/job/{reply['job_id']}"))

    _, reply = submit(rest, sh + "sleep 60\n", name="rec-cancel", env=path)
    wait(rest, reply["job_id"], state_is("RUNNING"))
    save("cancel_ok", *rest.call("DELETE", f"/slurm/v0.0.38/job/{reply['job_id']}"))
    save("job_cancelled_running", *wait(rest, reply["job_id"], state_is("CANCELLED")))
    time.sleep(1)
    save("db_job_cancelled", *rest.call("GET", f"/slurmdb/v0.0.38/job/{reply['job_id']}"))

    _, reply = submit(rest, sh + "true\n", name="rec-budget", env=path, gpus=2, minutes=5,
                      account=ACCOUNT)
    save("job_pending_budget", *wait(rest, reply["job_id"],
                                     lambda j: j["state_reason"] == "AssocGrpGRESMinutes"))
    rest.call("DELETE", f"/slurm/v0.0.38/job/{reply['job_id']}")

    # pre-emption: an entry job on every GPU, then an emergency job
    _, reply = submit(rest, sh + "sleep 120\n", name="rec-entry", env=path, gpus=4,
                      qos="fabriek-entry")
    entry_id = reply["job_id"]
    save("job_running_4gpus_entry", *wait(rest, entry_id, state_is("RUNNING")))
    _, reply = submit(rest, sh + "sleep 3\n", name="rec-emergency", env=path, gpus=4,
                      qos="fabriek-emergency")
    emergency_id = reply["job_id"]
    save("job_pending", *rest.call("GET", f"/slurm/v0.0.38/job/{emergency_id}"))
    save("job_requeued_preempted", *wait(rest, entry_id,
                                         lambda j: j["job_state"] == "PENDING"
                                         and j["restart_cnt"] > 0))
    wait(rest, emergency_id, state_is("COMPLETED"))
    rest.call("DELETE", f"/slurm/v0.0.38/job/{entry_id}")
    save("job_cancelled_pending", *wait(rest, entry_id, state_is("CANCELLED")))

    save("job_timeout", *wait(rest, timeout_id, state_is("TIMEOUT"), timeout=150))
    time.sleep(1)
    save("db_job_timeout", *rest.call("GET", f"/slurmdb/v0.0.38/job/{timeout_id}"))
    save("jobs", *rest.call("GET", "/slurm/v0.0.38/jobs"))


if __name__ == "__main__":
    main()
