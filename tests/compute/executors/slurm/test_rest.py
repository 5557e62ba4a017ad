"""The REST client's error mapping and tokens, replaying recorded slurmrestd replies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabriek.compute.executors.base import (
    ExecutorError,
    ExecutorUnavailable,
    JobRejected,
    UnknownJob,
)
from fabriek.compute.executors.slurm.executor import SlurmExecutor
from fabriek.compute.executors.slurm.rest import (
    RestPathMissing,
    SlurmError,
    SlurmRestClient,
    classify,
    mint_jwt,
)
from tests.compute.executors.slurm.conftest import load

pytestmark = pytest.mark.unit


def replay(version: str, name: str) -> httpx.MockTransport:
    recorded = load(version, name)
    return httpx.MockTransport(
        lambda request: httpx.Response(recorded["http_status"], json=recorded["body"]))


def client(transport: httpx.BaseTransport) -> SlurmRestClient:
    return SlurmRestClient("http://slurm", "root", token="tok", transport=transport)


@pytest.mark.parametrize(("version", "name", "error"), [
    ("v0.0.38", "submit_missing_environment", JobRejected),  # HTTP 400, 2127
    ("v0.0.38", "submit_invalid_account", JobRejected),  # HTTP 500, 2045
    ("v0.0.38", "submit_too_many_gpus", JobRejected),  # HTTP 500, 2014
    ("v0.0.40", "submit_invalid_account", JobRejected),
    ("v0.0.41", "submit_invalid_account", JobRejected),
])
def test_submit_errors_are_rejections(version: str, name: str, error: type[Exception]) -> None:
    with pytest.raises(error, match="Slurm refused the job"):
        client(replay(version, name)).post("/slurm/v0.0.38/job/submit", {}, submitting=True)


@pytest.mark.parametrize(("version", "name"), [("v0.0.38", "job_unknown"),
                                               ("v0.0.38", "cancel_unknown"),
                                               ("v0.0.40", "job_unknown")])
def test_unknown_job(version: str, name: str) -> None:
    with pytest.raises(UnknownJob, match="2017 Invalid job id specified"):
        client(replay(version, name)).get("/slurm/v0.0.38/job/999999")


def test_errors_are_checked_on_http_200() -> None:
    # slurmdb answers an unknown job with HTTP 200 and error 9003
    with pytest.raises(ExecutorError, match="9003 Nothing found with query"):
        client(replay("v0.0.38", "db_job_unknown")).get("/slurmdb/v0.0.38/job/999999")
    body = client(replay("v0.0.38", "db_job_unknown")).request(
        "GET", "/slurmdb/v0.0.38/job/999999", tolerate={9003})
    assert body["jobs"] == []


def test_success_returns_the_body() -> None:
    assert client(replay("v0.0.38", "submit_ok")).post(
        "/slurm/v0.0.38/job/submit", {}, submitting=True)["job_id"] == 12


@pytest.mark.parametrize(("numbers", "kind"), [
    ({1800}, ExecutorUnavailable), ({7000}, ExecutorUnavailable), ({5004}, ExecutorUnavailable),
    ({6000}, ExecutorError), ({2017}, UnknownJob), ({2050}, ExecutorError),
])
def test_classify_by_number(numbers: set[int], kind: type[Exception]) -> None:
    errors = [SlurmError(number, "x", "", "") for number in numbers]
    assert type(classify(errors, status=500)) is kind


def test_classify_submit_and_expired_token() -> None:
    assert type(classify([SlurmError(2050, "policy", "", "")], status=500, submitting=True)) \
        is JobRejected
    assert type(classify([SlurmError(1800, "down", "", "")], status=500, submitting=True)) \
        is ExecutorUnavailable
    # 22.05 answers a forged or expired token with -1 from slurm_load_ctl_conf
    expired = classify([SlurmError(-1, "Unspecified error", "slurmctld config is unable to load",
                                   "slurm_load_ctl_conf")], status=500, submitting=True)
    assert type(expired) is ExecutorError
    assert "JWT" in str(expired)


def _respond(status: int, text: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, text=text))


@pytest.mark.parametrize(("status", "text", "kind"), [
    (401, "Authentication failure", ExecutorError),
    (404, "Unable find requested URL. Please view /openapi/v3 for API reference.",
     RestPathMissing),
    (502, "bad gateway", ExecutorUnavailable),
    (503, "", ExecutorUnavailable),
])
def test_non_json_replies(status: int, text: str, kind: type[Exception]) -> None:
    with pytest.raises(kind):
        client(_respond(status, text)).get("/slurm/v0.0.38/ping")


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_connection_problems_are_unavailable(exc: Exception) -> None:
    with pytest.raises(ExecutorUnavailable):
        client(httpx.MockTransport(_raise(exc))).get("/slurm/v0.0.38/ping")


def test_headers_carry_user_and_token() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200, json={"errors": [], "pings": []})

    client(httpx.MockTransport(handler)).get("/slurm/v0.0.38/ping")
    assert (seen["x-slurm-user-name"], seen["x-slurm-user-token"]) == ("root", "tok")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_mint_jwt_is_an_hs256_token_for_the_user() -> None:
    token = mint_jwt(b"k" * 32, "svc", 600, now=1_000_000)
    header, payload, signature = token.split(".")
    assert json.loads(_unb64(header)) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(_unb64(payload)) == {"exp": 1_000_600, "iat": 1_000_000, "sun": "svc"}
    expected = hmac.new(b"k" * 32, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert _unb64(signature) == expected


def test_tokens_are_minted_from_the_key_file_and_reused(tmp_path: Path) -> None:
    key = tmp_path / "jwt.key"
    key.write_bytes(b"s" * 32)
    made = SlurmRestClient("http://slurm", "svc", jwt_key_path=key)
    first = made.token()
    assert first == made.token()
    assert json.loads(_unb64(first.split(".")[1]))["sun"] == "svc"
    key.unlink()
    made._minted = None  # force a renewal: an unreadable key is a configuration error
    with pytest.raises(ExecutorError, match="cannot read the Slurm JWT key"):
        made.token()


def test_client_needs_a_credential() -> None:
    with pytest.raises(ValueError, match="needs a JWT"):
        SlurmRestClient("http://slurm", "svc")


def test_executor_ping_false_when_slurmrestd_says_no() -> None:
    executor = SlurmExecutor("http://slurm", "root", token="t",
                             transport=_respond(500, "oops"))
    assert executor.ping() is False
    executor = SlurmExecutor("http://slurm", "root", token="t",
                             transport=replay("v0.0.38", "ping"))
    assert executor.ping() is True
