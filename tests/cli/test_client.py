"""The Python client against a scripted transport: retries, idempotency keys, problems, paging."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from fabriek.access.schemas import ProposalUpdate
from fabriek.client import FabriekApiError, FabriekClient

pytestmark = pytest.mark.unit

USER = {"id": 7, "email": "eva@tulpen.example.eu", "display_name": "", "roles": ["applicant"],
        "memberships": {}}


def _client(handler: Callable[[httpx.Request], httpx.Response],
            token: str | None = "fab_test") -> FabriekClient:
    return FabriekClient("http://fabriek.test", token, transport=httpx.MockTransport(handler),
                         backoff=0)


def test_client_retry_after_connection_errors_reuses_the_idempotency_key():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Idempotency-Key"])
        if len(seen) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(201, json=USER)

    user = _client(handler).create_user("eva@tulpen.example.eu")

    assert user.id == 7
    assert len(seen) == 3
    assert len(set(seen)) == 1


def test_client_gives_up_after_three_retries():
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(httpx.ConnectError):
        _client(handler).health()

    assert len(attempts) == 4


def test_client_each_logical_call_gets_a_fresh_key_unless_given():
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        return httpx.Response(201, json=USER)

    client = _client(handler)
    client.create_user("a@x.eu")
    client.create_user("a@x.eu")
    client.create_user("a@x.eu", idempotency_key="mine-1")

    assert keys[0] != keys[1]
    assert keys[2] == "mine-1"


def test_client_sends_the_token_as_bearer_and_nothing_without_one():
    auth: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        auth.append(request.headers.get("Authorization"))
        return httpx.Response(200, json={"status": "ok", "version": "0", "database": "sqlite"})

    _client(handler, "fab_abc").health()
    _client(handler, None).health()

    assert auth == ["Bearer fab_abc", None]


def test_client_problem_response_raises_api_error_with_its_fields():
    body = {"type": "urn:fabriek:problem:policy_refusal", "title": "Refused by policy",
            "status": 422, "detail": "Strategic cannot be applied for", "code": "policy_refusal",
            "rule": "access mode strategic: initiated_by"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json=body,
                              headers={"content-type": "application/problem+json"})

    with pytest.raises(FabriekApiError) as caught:
        _client(handler).proposals.create({"organisation_id": 1, "mode": "strategic"})

    err = caught.value
    assert (err.status, err.code, err.title, err.detail, err.rule) == (
        422, "policy_refusal", "Refused by policy", "Strategic cannot be applied for",
        "access mode strategic: initiated_by")
    assert err.body == body


def test_client_non_problem_error_keeps_the_text():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad gateway</html>")

    with pytest.raises(FabriekApiError) as caught:
        _client(handler).me()

    assert (caught.value.status, caught.value.code) == (502, "http_error")
    assert "Bad gateway" in caught.value.detail


def test_client_list_all_follows_next_after():
    def org(i: int) -> dict[str, object]:
        return {"id": i, "legal_name": f"Org {i}", "country": "NL", "registration_id": str(i),
                "vat_id": None, "kind": "enterprise", "founded_on": None, "headcount": None,
                "turnover_eur": None, "balance_sheet_eur": None, "public_control": False,
                "vouched_at": None, "created_at": "2026-01-01T00:00:00Z",
                "classification": {"size_class": "unknown", "categories": [], "reasons": []},
                "eligibility": {"eligible": True, "country": "NL", "groups": [], "reason": ""}}

    afters: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params["after"])
        afters.append(str(after))
        ids = [i for i in (1, 2, 3) if i > after][:2]
        return httpx.Response(200, json={"items": [org(i) for i in ids],
                                         "next_after": ids[-1] if len(ids) == 2 else None})

    client = _client(handler)
    everything = client.organisations.list(limit=2, all=True)
    first_page = client.organisations.list(limit=2)

    assert [o.id for o in everything] == [1, 2, 3]
    assert [o.id for o in first_page] == [1, 2]
    assert afters == ["0", "2", "0"]


def test_client_update_sends_only_the_fields_given():
    sent: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(500, json={"status": 500, "title": "x", "detail": "x"})

    with pytest.raises(FabriekApiError):
        _client(handler).proposals.update(3, ProposalUpdate(gpu_hours=1500))

    assert sent == [{"gpu_hours": 1500}]
