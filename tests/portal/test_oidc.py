"""OpenID Connect sign-in against a real provider (tests/e2e/oidc-provider.mjs, npm
oidc-provider 9) on loopback: the portal app in-process, the provider's login driven over HTTP
as a browser would. Identity linking, and the state, nonce, PKCE and issuer checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from fabriek.access.service import AccessConfig
from fabriek.api.app import create_app
from fabriek.db.session import Database
from fabriek.identity.models import OidcFlow, User, UserIdentity, WebSession
from fabriek.kit.clock import utcnow
from fabriek.portal.oidc import _is_true
from fabriek.portal.routes.auth import FLOW_COOKIE
from fabriek.portal.web import CSRF_COOKIE, SESSION_COOKIE
from fabriek.settings import Settings
from tests.portal.helpers import text_of
from tests.support.oidc import USERS, OidcProvider, start_provider

pytestmark = pytest.mark.integration

PORTAL = "https://testserver"
CALLBACK = f"{PORTAL}/auth/oidc/callback"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    provider = start_provider([CALLBACK], log_dir=tmp_path_factory.mktemp("idp"))
    yield provider
    provider.stop()


def _app(database: Database, access: AccessConfig, data_dir: Path, idp: OidcProvider,
         **overrides: str) -> TestClient:
    settings = Settings(data_dir=data_dir, public_url=PORTAL, **{**idp.settings(), **overrides})
    app = create_app(settings, database=database, access=access, run_reconciler=False)
    return TestClient(app, base_url=PORTAL, raise_server_exceptions=False,
                      follow_redirects=False)


@pytest.fixture
def portal(database: Database, access: AccessConfig, tmp_path: Path, idp: OidcProvider
           ) -> Iterator[TestClient]:
    with _app(database, access, tmp_path, idp) as client:
        yield client


@pytest.fixture
def other_browser(portal: TestClient) -> Iterator[TestClient]:
    """A second browser on the same portal: its own cookie jar."""
    with TestClient(portal.app, base_url=PORTAL, raise_server_exceptions=False,
                    follow_redirects=False) as client:
        yield client


def _start(portal: TestClient, next: str = "/me") -> str:
    """Press 'Sign in with ...' on the sign-in page; returns the provider's authorisation URL."""
    portal.get("/sign-in")
    r = portal.post("/auth/oidc/start", data={"csrf_token": portal.cookies[CSRF_COOKIE],
                                              "next": next})
    assert r.status_code == 303, text_of(r)
    assert portal.cookies.get(FLOW_COOKIE)
    return r.headers["location"]


def _login_at_idp(auth_url: str, username: str, password: str | None = None) -> str:
    """Sign in at the provider as `username`; returns the callback URL it sends back to."""
    password = password if password is not None else USERS[username].password
    with httpx.Client(follow_redirects=False) as browser:  # keeps the provider's cookies
        r = browser.get(auth_url)
        login = r.url.join(r.headers["location"])  # /interaction/<uid>
        r = browser.post(login, data={"username": username, "password": password})
        assert r.status_code in (302, 303), r.text
        while not r.headers["location"].startswith(CALLBACK):
            r = browser.get(r.url.join(r.headers["location"]))
        return r.headers["location"]


def _sign_in(portal: TestClient, username: str, next: str = "/me") -> httpx.Response:
    return portal.get(_login_at_idp(_start(portal, next), username))


def _count(database: Database, model: type) -> int:
    with database.session(readonly=True) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _signed_in_as(portal: TestClient) -> str | None:
    r = portal.get("/me")
    if r.status_code != 200:
        return None
    return r.text.split('<span class="who">')[1].split("<")[0]


def test_first_sign_in_registers_an_applicant_and_later_ones_find_the_same_person(
        portal: TestClient, other_browser: TestClient, database: Database,
        idp: OidcProvider) -> None:
    r = _sign_in(portal, "alice", next="/me?from=idp")
    assert r.status_code == 303 and r.headers["location"] == "/me?from=idp"
    assert _signed_in_as(portal) == "alice@idp.example"
    assert FLOW_COOKIE not in portal.cookies  # the flow is over
    with database.session(readonly=True) as s:
        user = s.execute(select(User).where(User.email == "alice@idp.example")).scalar_one()
        link = s.execute(select(UserIdentity)).scalar_one()
        assert (link.user_id, link.issuer, link.subject) == (user.id, idp.issuer, "alice")
        assert user.display_name == "Alice Liddell" and user.password_hash is None
        assert s.execute(select(WebSession.method)).scalar_one() == "oidc"
    # Again, from another browser: the same person, nobody new, no second link.
    assert _sign_in(other_browser, "alice").status_code == 303
    assert _signed_in_as(other_browser) == "alice@idp.example"
    assert _count(database, User) == 1 and _count(database, UserIdentity) == 1


def test_a_verified_address_links_the_existing_account(
        portal: TestClient, database: Database, make_person) -> None:  # type: ignore[no-untyped-def]
    dora = make_person("dora@idp.example")
    assert _sign_in(portal, "dora").status_code == 303
    assert _signed_in_as(portal) == "dora@idp.example"
    with database.session(readonly=True) as s:
        assert s.execute(select(UserIdentity.user_id)).scalar_one() == dora.user_id
    assert _count(database, User) == 1


def test_an_unverified_address_of_an_existing_account_is_refused(
        portal: TestClient, database: Database, make_person) -> None:  # type: ignore[no-untyped-def]
    make_person("bob@idp.example")
    r = _sign_in(portal, "bob")
    assert r.status_code == 409
    assert "the identity provider has not verified the address" in text_of(r)
    assert SESSION_COOKIE not in portal.cookies and _signed_in_as(portal) is None
    assert _count(database, UserIdentity) == 0 and _count(database, WebSession) == 0


def test_an_unverified_address_nobody_uses_registers_a_new_applicant(
        portal: TestClient, database: Database) -> None:
    # As a local sign-up would: nobody's account is at stake.
    assert _sign_in(portal, "erin").status_code == 303
    assert _signed_in_as(portal) == "erin@idp.example"


def test_an_identity_without_an_address_is_refused(portal: TestClient,
                                                   database: Database) -> None:
    r = _sign_in(portal, "nomail")
    assert r.status_code == 400 and "did not tell us an e-mail address" in text_of(r)
    assert _count(database, User) == 0


def test_a_callback_is_used_once(portal: TestClient, database: Database) -> None:
    auth_url = _start(portal)
    state = portal.cookies[FLOW_COOKIE]
    callback = _login_at_idp(auth_url, "frank")
    assert portal.get(callback).status_code == 303
    portal.post("/sign-out", data={"csrf_token": portal.cookies[CSRF_COOKIE]})
    # Replayed as is: the flow cookie is gone.
    r = portal.get(callback)
    assert r.status_code == 400 and "was not started in this browser" in text_of(r)
    # Replayed with the cookie put back: the server-side flow is gone too.
    portal.cookies.set(FLOW_COOKIE, state, domain="testserver.local", path="/auth/oidc/")
    r = portal.get(callback)
    assert r.status_code == 400 and "expired or was already used" in text_of(r)
    assert _signed_in_as(portal) is None
    assert _count(database, OidcFlow) == 0


def test_a_callback_made_in_another_browser_is_refused_there(
        portal: TestClient, other_browser: TestClient, database: Database) -> None:
    # Login CSRF: an attacker signs in at the provider and sends the callback link to a
    # victim, who would then work in the attacker's account without noticing.
    attackers_callback = _login_at_idp(_start(portal), "grace")
    other_browser.get("/")
    r = other_browser.get(attackers_callback)
    assert r.status_code == 400 and "was not started in this browser" in text_of(r)
    assert _signed_in_as(other_browser) is None and _count(database, User) == 0
    # The browser that started it can still finish: nothing was used up.
    assert portal.get(attackers_callback).status_code == 303
    assert _signed_in_as(portal) == "grace@idp.example"


@pytest.mark.parametrize("cookie", [None, "forged"])
def test_a_forged_state_is_refused(portal: TestClient, database: Database,
                                   cookie: str | None) -> None:
    _start(portal)
    if cookie:
        portal.cookies.set(FLOW_COOKIE, cookie, domain="testserver.local", path="/auth/oidc/")
    else:
        portal.cookies.delete(FLOW_COOKIE)
    r = portal.get("/auth/oidc/callback", params={"code": "x", "state": "forged"})
    assert r.status_code == 400
    assert "OpenID Connect sign-in failed" in text_of(r) and _signed_in_as(portal) is None
    assert _count(database, OidcFlow) == 1  # the real flow of this browser is untouched


def _tamper_flow(database: Database, **values: object) -> None:
    with database.unit_of_work() as s:
        s.execute(update(OidcFlow).values(**values))


@pytest.mark.parametrize(("column", "message"), [
    ("nonce", "answer was not valid"),  # the ID token's nonce is not this flow's
    ("code_verifier", "refused the sign-in"),  # PKCE: the provider refuses the code
])
def test_the_nonce_and_the_pkce_verifier_are_checked(
        portal: TestClient, database: Database, column: str, message: str) -> None:
    callback = _login_at_idp(_start(portal), "alice")
    _tamper_flow(database, **{column: "x" * 43})
    r = portal.get(callback)
    assert r.status_code == 401 and message in text_of(r), text_of(r)
    assert _signed_in_as(portal) is None and _count(database, User) == 0


def test_a_flow_older_than_ten_minutes_has_expired(portal: TestClient,
                                                   database: Database) -> None:
    callback = _login_at_idp(_start(portal), "alice")
    _tamper_flow(database, created_at=utcnow() - timedelta(minutes=11))
    r = portal.get(callback)
    assert r.status_code == 400 and "expired or was already used" in text_of(r)
    assert _signed_in_as(portal) is None and _count(database, User) == 0


def test_an_answer_naming_another_issuer_is_refused(portal: TestClient,
                                                    database: Database) -> None:
    # RFC 9207: the provider says who answered; a mix-up with another provider is refused.
    parts = urlsplit(_login_at_idp(_start(portal), "alice"))
    query = dict(parse_qsl(parts.query))
    assert query.get("iss")  # oidc-provider sends it
    query["iss"] = "https://idp.attacker.example"
    r = portal.get(urlunsplit(parts._replace(query=urlencode(query))))
    assert r.status_code == 401 and "not from" in text_of(r)
    assert _count(database, User) == 0


def test_a_refusal_at_the_provider_is_explained(portal: TestClient) -> None:
    _start(portal)
    state = portal.cookies[FLOW_COOKIE]
    r = portal.get("/auth/oidc/callback", params={
        "state": state, "error": "access_denied", "error_description": "End-User aborted"})
    assert r.status_code == 401
    assert "cancelled or refused at the identity provider (End-User aborted)" in text_of(r)
    # Without this browser's flow, no text from the URL reaches the page.
    r = portal.get("/auth/oidc/callback", params={
        "state": state, "error": "access_denied", "error_description": "Call +1 555 0100"})
    assert r.status_code == 400 and "555" not in r.text


def test_an_issuer_set_with_a_trailing_slash_still_signs_in(
        database: Database, access: AccessConfig, tmp_path: Path, idp: OidcProvider) -> None:
    with _app(database, access, tmp_path, idp, oidc_issuer=idp.issuer + "/") as portal:
        assert _sign_in(portal, "alice").status_code == 303
        assert _signed_in_as(portal) == "alice@idp.example"
    with database.session(readonly=True) as s:
        assert s.execute(select(UserIdentity.issuer)).scalar_one() == idp.issuer


@pytest.mark.unit
@pytest.mark.parametrize(("value", "verified"), [
    (True, True), ("true", True), ("TRUE", True), (False, False), ("false", False),
    (None, False), (1, False), ("yes", False)])
def test_only_a_true_email_verified_claim_counts(value: object, verified: bool) -> None:
    assert _is_true(value) is verified
