"""Helpers for portal tests: signing a person in, posting forms with their CSRF token, and
reading pages."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from fabriek.db.session import Database
from fabriek.identity import web as identity
from fabriek.identity.models import User
from fabriek.portal.web import CSRF_COOKIE, SESSION_COOKIE
from tests.conftest import Person

PASSWORD = "a long enough test password"


def signed_in_client(app: FastAPI, database: Database, person: Person) -> TestClient:
    """A client with a session for `person`, as after a successful sign-in."""
    with database.unit_of_work() as session:
        user = session.get(User, person.user_id)
        token = identity.start_session(session, user, method="password", hours=1)
    client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    client.__enter__()
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")
    client.get("/")  # mints the CSRF cookie
    return client


def csrf(client: TestClient) -> str:
    token = client.cookies.get(CSRF_COOKIE)
    if token is None:
        client.get("/")
        token = client.cookies.get(CSRF_COOKIE)
    assert token, "no CSRF cookie was set"
    return token


def post_form(client: TestClient, url: str, data: dict[str, Any] | None = None,
              **kwargs: Any) -> Response:
    """POST a form as the page would: with the CSRF token; redirects are not followed."""
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})},
                       follow_redirects=False, **kwargs)


def text_of(r: Response) -> str:
    """The page's visible text, roughly: tags removed, whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", r.text, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()
