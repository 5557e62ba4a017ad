"""Local accounts, sessions, CSRF and the rate limit, through the portal's forms."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fabriek.db.session import Database
from fabriek.identity.models import SignInAttempt, User, WebSession
from fabriek.portal.web import CSRF_COOKIE, SESSION_COOKIE
from tests.portal.helpers import PASSWORD, csrf, post_form, text_of

pytestmark = pytest.mark.integration


def _sign_up(client: TestClient, email: str = "ada@startup.example") -> None:
    r = post_form(client, "/sign-up", {"email": email, "display_name": "Ada",
                                       "password": PASSWORD, "password_again": PASSWORD})
    assert r.status_code == 303, text_of(r)
    assert r.headers["location"] == "/me"


def test_sign_up_signs_in_and_the_cookies_are_locked_down(anonymous: TestClient) -> None:
    _sign_up(anonymous)
    me = anonymous.get("/me")
    assert me.status_code == 200 and "ada@startup.example" in me.text
    r = post_form(anonymous, "/sign-in", {"email": "ada@startup.example", "password": PASSWORD})
    set_cookie = "; ".join(r.headers.get_list("set-cookie")).lower()
    assert SESSION_COOKIE in set_cookie
    for flag in ("httponly", "secure", "samesite=lax"):
        assert flag in set_cookie, set_cookie


def test_sign_in_with_a_wrong_password_says_so_and_starts_no_session(
        anonymous: TestClient, database: Database) -> None:
    _sign_up(anonymous)
    post_form(anonymous, "/sign-out")
    r = post_form(anonymous, "/sign-in", {"email": "ada@startup.example", "password": "wrong!"})
    assert r.status_code == 401
    assert "wrong e-mail address or password" in text_of(r)
    r = post_form(anonymous, "/sign-in", {"email": "nobody@x.example", "password": "wrong!"})
    assert r.status_code == 401  # the same answer: no telling which addresses exist
    with database.session(readonly=True) as s:
        live = s.execute(select(func.count()).select_from(WebSession)
                         .where(WebSession.ended_at.is_(None))).scalar_one()
    assert live == 0
    assert anonymous.get("/me", follow_redirects=False).status_code == 303


def test_guessing_is_refused_after_five_failures_even_with_the_right_password(
        anonymous: TestClient, database: Database) -> None:
    _sign_up(anonymous)
    post_form(anonymous, "/sign-out")
    for _ in range(5):
        assert post_form(anonymous, "/sign-in", {"email": "ada@startup.example",
                                                 "password": "guess"}).status_code == 401
    r = post_form(anonymous, "/sign-in", {"email": "ada@startup.example", "password": PASSWORD})
    assert r.status_code == 429 and "too many failed sign-ins" in text_of(r)
    with database.session(readonly=True) as s:
        assert s.execute(select(func.count()).select_from(SignInAttempt)).scalar_one() == 5


def test_sign_out_ends_the_session_on_the_server(anonymous: TestClient,
                                                 database: Database) -> None:
    _sign_up(anonymous)
    stolen = anonymous.cookies.get(SESSION_COOKIE)
    assert post_form(anonymous, "/sign-out").headers["location"] == "/?notice=signed-out"
    # A copy of the cookie taken before sign-out no longer works.
    anonymous.cookies.set(SESSION_COOKIE, stolen)
    assert anonymous.get("/me", follow_redirects=False).status_code == 303
    with database.session(readonly=True) as s:
        assert s.execute(select(WebSession.ended_at)).scalar_one() is not None


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
        anonymous: TestClient, database: Database, token: str | None) -> None:
    csrf(anonymous)
    data = {"email": "eve@x.example", "display_name": "Eve", "password": PASSWORD,
            "password_again": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    r = anonymous.post("/sign-up", data=data, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in text_of(r)
    with database.session(readonly=True) as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_a_csrf_token_planted_before_sign_in_is_replaced(anonymous: TestClient) -> None:
    before = csrf(anonymous)
    _sign_up(anonymous)
    assert anonymous.cookies.get(CSRF_COOKIE) != before


def test_sign_in_never_redirects_off_site(anonymous: TestClient) -> None:
    _sign_up(anonymous)
    post_form(anonymous, "/sign-out")
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        r = post_form(anonymous, "/sign-in", {"email": "ada@startup.example",
                                              "password": PASSWORD, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/", target
        post_form(anonymous, "/sign-out")


def test_bad_sign_up_input_is_explained_and_creates_no_one(anonymous: TestClient,
                                                            database: Database) -> None:
    for data, message in [
        ({"password": "short", "password_again": "short"}, "at least 12 characters"),
        ({"password": PASSWORD, "password_again": PASSWORD + "x"}, "passwords differ"),
    ]:
        r = post_form(anonymous, "/sign-up", {"email": "bob@x.example", "display_name": "B",
                                              **data})
        assert r.status_code == 400 and message in text_of(r)
    _sign_up(anonymous, "bob@x.example")
    post_form(anonymous, "/sign-out")
    r = post_form(anonymous, "/sign-up", {"email": "BOB@x.example", "display_name": "B",
                                          "password": PASSWORD, "password_again": PASSWORD})
    assert r.status_code == 409 and "already exists" in text_of(r)
    with database.session(readonly=True) as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == 1


def test_pages_carry_security_headers_and_the_api_keeps_problem_json(
        anonymous: TestClient) -> None:
    r = anonymous.get("/")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    r = anonymous.get("/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    r = anonymous.get("/api/v1/proposals")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_language_follows_the_browser_then_the_switch(anonymous: TestClient) -> None:
    assert '<html lang="nl">' in anonymous.get("/", headers={
        "Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"}).text
    assert '<html lang="en">' in anonymous.get("/", headers={"Accept-Language": "fr"}).text
    anonymous.get("/lang/nl")
    assert '<html lang="nl">' in anonymous.get("/", headers={"Accept-Language": "en"}).text


def test_a_notice_survives_a_redirect_to_an_anchor() -> None:
    from fabriek.portal.web import redirect

    assert redirect("/proposals/3?tab=x#reviews", flash="saved").headers["location"] == (
        "/proposals/3?tab=x&notice=saved#reviews")
    assert redirect("https://evil.example", flash="saved").headers["location"] == (
        "/?notice=saved")
