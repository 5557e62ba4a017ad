"""A small httpx client for slurmrestd, speaking our ExecutorError family.

Authentication is JWT: every request carries X-SLURM-USER-NAME and X-SLURM-USER-TOKEN.
slurmrestd does not check the token itself; slurmctld and slurmdbd do. The client either mints
tokens from the cluster's HS256 key (what `scontrol token` does; whoever holds the key can act as
any user, so only a dev cluster or a trusted broker host should have it) or uses a token the
site issued.

slurmrestd reports failures in the body's `errors[]`, often with HTTP 200 (or 500 for nearly
everything else), so the body is checked on every reply and the error numbers
(slurm/slurm_errno.h) decide which ExecutorError is raised.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fabriek.compute.executors.base import (
    ExecutorError,
    ExecutorUnavailable,
    JobRejected,
    UnknownJob,
)

# slurm/slurm_errno.h
ESLURM_INVALID_JOB_ID = 2017
ESLURM_ALREADY_DONE = 2021
ESLURM_JOB_HELD = 2042  # "Job is in held state, pending scheduler release": submitted held
# The controller or the database cannot be reached: try again later.
UNAVAILABLE_ERRORS = frozenset(
    set(range(1000, 1026))  # SLURM_COMMUNICATIONS_* ... SLURM_SHUTTING_DOWN
    | set(range(1800, 1806))  # SLURMCTLD_COMMUNICATIONS_*
    | {2027, 2131}  # ESLURM_IN_STANDBY_MODE, ESLURM_IN_STANDBY_USE_BACKUP
    | {5003, 5004, 5005}  # socket timeouts, zero bytes sent
    | {7000, 7008}  # ESLURM_DB_CONNECTION, ESLURM_DB_CONNECTION_INVALID
)
AUTH_ERRORS = frozenset(range(6000, 6012)) | {1007}  # ESLURM_AUTH_*, PROTOCOL_AUTHENTICATION


class RestPathMissing(ExecutorError):
    """slurmrestd does not serve this path (an API version or plugin it did not load)."""


@dataclass(frozen=True)
class SlurmError:
    number: int | None
    error: str
    description: str
    source: str

    def __str__(self) -> str:
        number = f"{self.number} " if self.number is not None else ""
        detail = f": {self.description}" if self.description and self.description != self.error \
            else ""
        return f"{number}{self.error}{detail}".strip()


def slurm_errors(body: Mapping[str, Any]) -> list[SlurmError]:
    """The errors[] of a reply (error_number in v0.0.38+, error_code in older plugins)."""
    found = []
    for item in body.get("errors") or ():
        if not isinstance(item, Mapping):
            continue
        number = item.get("error_number", item.get("error_code"))
        found.append(SlurmError(
            number=number if isinstance(number, int) else None,
            error=str(item.get("error") or ""),
            description=str(item.get("description") or ""),
            source=str(item.get("source") or ""),
        ))
    return found


def classify(errors: list[SlurmError], *, status: int, submitting: bool = False) -> ExecutorError:
    """The ExecutorError for a reply's errors: by number first, then by what was asked."""
    numbers = {e.number for e in errors if e.number is not None}
    text = "; ".join(str(e) for e in errors) or f"HTTP {status}"
    if numbers & UNAVAILABLE_ERRORS:
        return ExecutorUnavailable(f"slurmrestd: {text}")
    if numbers & AUTH_ERRORS:
        return ExecutorError(f"slurmrestd refused the credentials: {text}")
    if ESLURM_INVALID_JOB_ID in numbers and not submitting:
        return UnknownJob(f"slurmrestd: {text}")
    if numbers == {-1}:
        # 22.05 answers an expired or forged token with -1 "Unspecified error" (from
        # slurm_load_ctl_conf, "Failed while looking for jobs", ...), not an auth error
        return ExecutorError(f"slurmrestd: {text} (is the JWT valid for this user?)")
    if submitting and (numbers - {-1} or status == 400):
        return JobRejected(f"Slurm refused the job: {text}")
    return ExecutorError(f"slurmrestd: {text}")


def mint_jwt(key: bytes, user: str, lifetime_s: int, now: float | None = None) -> str:
    """An HS256 token as `scontrol token username=<user>` makes: claims exp, iat, sun."""
    issued = int(time.time() if now is None else now)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def part(obj: dict[str, Any]) -> str:
        return b64(json.dumps(obj, separators=(",", ":")).encode())

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}." \
                    f"{part({'exp': issued + lifetime_s, 'iat': issued, 'sun': user})}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class SlurmRestClient:
    """JSON over HTTP to slurmrestd; every method returns the parsed body or raises."""

    def __init__(self, base_url: str, user: str, *, token: str | None = None,
                 jwt_key_path: str | Path | None = None, token_lifetime_s: int = 3600,
                 timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        if not token and not jwt_key_path:
            raise ValueError("slurmrestd needs a JWT: give a token or the JWT key file")
        self.user = user
        self._token = token
        self._key_path = Path(jwt_key_path) if jwt_key_path else None
        self._lifetime_s = token_lifetime_s
        self._minted: tuple[str, float] | None = None  # (token, expiry)
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                  transport=transport,
                                  headers={"Accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def token(self) -> str:
        """The token to send: minted from the key (renewed a minute before expiry) or given."""
        if self._key_path is None:
            assert self._token is not None
            return self._token
        with self._lock:
            now = time.time()
            if self._minted is None or self._minted[1] - now < 60:
                try:
                    key = self._key_path.read_bytes()
                except OSError as exc:
                    raise ExecutorError(f"cannot read the Slurm JWT key {self._key_path}: "
                                        f"{exc.strerror}") from exc
                self._minted = (mint_jwt(key, self.user, self._lifetime_s, now),
                                now + self._lifetime_s)
            return self._minted[0]

    def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any], *, submitting: bool = False
             ) -> dict[str, Any]:
        return self.request("POST", path, body=body, submitting=submitting)

    def delete(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self.request("DELETE", path, params=params)

    def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                body: Mapping[str, Any] | None = None, submitting: bool = False,
                tolerate: Set[int] = frozenset()) -> dict[str, Any]:
        """One call; errors whose numbers are all in `tolerate` are not raised."""
        headers = {"X-SLURM-USER-NAME": self.user, "X-SLURM-USER-TOKEN": self.token()}
        try:
            response = self._http.request(method, path, params=params, json=body,
                                          headers=headers)
        except httpx.TimeoutException as exc:
            raise ExecutorUnavailable(f"slurmrestd timed out on {method} {path}") from exc
        except httpx.TransportError as exc:
            raise ExecutorUnavailable(f"slurmrestd unreachable ({method} {path}): {exc}") from exc
        return self._checked(response, method, path, submitting=submitting, tolerate=tolerate)

    def _checked(self, response: httpx.Response, method: str, path: str, *, submitting: bool,
                 tolerate: Set[int]) -> dict[str, Any]:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip()[:200]
            if status == 404:
                raise RestPathMissing(f"slurmrestd does not serve {method} {path}: {text}")
            if status in (401, 403):
                raise ExecutorError(f"slurmrestd refused the credentials of {self.user!r}: "
                                    f"{text}")
            if status >= 500:
                raise ExecutorUnavailable(f"slurmrestd answered HTTP {status}: {text}")
            if submitting and status == 400:
                raise JobRejected(f"slurmrestd rejected the job: {text}")
            raise ExecutorError(f"slurmrestd answered HTTP {status} to {method} {path}: {text}")
        errors = slurm_errors(body)
        if errors and not all(error.number in tolerate for error in errors):
            raise classify(errors, status=status, submitting=submitting)
        if status >= 400 and not errors:
            raise ExecutorError(f"slurmrestd answered HTTP {status} to {method} {path}")
        return body
