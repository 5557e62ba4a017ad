"""Signing in, up and out in Chromium: OpenID Connect end to end against a real provider, local
accounts, and forms posted from another site refused. Every page is checked with axe-core and
kept as a screenshot."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from fabriek.identity.models import User, UserIdentity

pytestmark = pytest.mark.e2e

OIDC_BUTTON = "Sign in with Test IdP"


def _oidc_sign_in(page: Page, live_server, username: str, password: str | None = None,
                  screenshot: Callable[[Page, str], object] | None = None) -> None:
    """From the portal's sign-in page through the provider's login form."""
    idp = live_server.oidc
    page.goto(f"{live_server.url}/sign-in")
    page.get_by_role("button", name=OIDC_BUTTON).click()
    page.wait_for_url(f"{idp.issuer}/interaction/*")
    if screenshot:
        screenshot(page, "oidc-provider-login")
    page.get_by_label("User").fill(username)
    page.get_by_label("Password").fill(password or idp.users[username].password)
    page.get_by_role("button", name="Sign in").click()


def _who(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("header .who")


def _user_and_links(live_server, email: str) -> tuple[int, int]:
    with live_server.database.session(readonly=True) as s:
        user_id = s.execute(select(User.id).where(User.email == email)).scalar_one()
        links = s.execute(select(UserIdentity).where(UserIdentity.user_id == user_id)
                          ).scalars().all()
        return user_id, len(links)


def test_the_public_pages_are_accessible(page: Page, live_server, check_accessible,
                                         screenshot) -> None:
    for path, name, heading in [("/", "landing", "GPU time on Europe's AI Factories"),
                                ("/sign-in", "sign-in", "Sign in"),
                                ("/sign-up", "sign-up", "Create an account")]:
        page.goto(live_server.url + path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        check_accessible(page)
        screenshot(page, name)
    # A page that needs a sign-in sends the reader to it, and back afterwards.
    page.goto(live_server.url + "/me")
    assert page.url == f"{live_server.url}/sign-in?next=/me"
    page.goto(live_server.url + "/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    check_accessible(page)
    screenshot(page, "not-found")
    # The same in Dutch, through the switch.
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Nederlands").click()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    check_accessible(page)
    screenshot(page, "landing-nl")


def test_oidc_sign_in_end_to_end_and_again_as_the_same_person(
        page: Page, live_server, check_accessible, screenshot) -> None:
    _oidc_sign_in(page, live_server, "alice", screenshot=screenshot)
    page.wait_for_url(f"{live_server.url}/me")
    expect(_who(page)).to_have_text("alice@idp.example")
    check_accessible(page)
    screenshot(page, "me-after-oidc")
    first = _user_and_links(live_server, "alice@idp.example")
    assert first[1] == 1

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(_who(page)).to_have_count(0)
    # The provider remembers alice, so this time it sends her straight back.
    page.goto(f"{live_server.url}/sign-in")
    page.get_by_role("button", name=OIDC_BUTTON).click()
    page.wait_for_url(f"{live_server.url}/me")
    expect(_who(page)).to_have_text("alice@idp.example")
    assert _user_and_links(live_server, "alice@idp.example") == first


def test_a_verified_address_signs_in_to_the_existing_account(page: Page, live_server) -> None:
    dora = live_server.person("dora@idp.example")
    _oidc_sign_in(page, live_server, "dora")
    page.wait_for_url(f"{live_server.url}/me")
    expect(_who(page)).to_have_text("dora@idp.example")
    assert _user_and_links(live_server, "dora@idp.example") == (dora.user_id, 1)


def test_a_wrong_password_at_the_provider_leaves_the_person_signed_out(
        page: Page, live_server) -> None:
    _oidc_sign_in(page, live_server, "grace", password="not her password")
    expect(page.get_by_role("alert")).to_have_text("Wrong user or password")
    assert page.url.startswith(live_server.oidc.issuer)
    page.goto(f"{live_server.url}/me")
    assert "/sign-in" in page.url
    names = {c["name"] for c in page.context.cookies(live_server.url)}
    assert "fabriek_session" not in names


def test_a_replayed_or_forged_state_is_refused_with_a_clear_page(
        page: Page, live_server, check_accessible, screenshot) -> None:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/auth/oidc/callback" in r.url else None)
    _oidc_sign_in(page, live_server, "frank")
    page.wait_for_url(f"{live_server.url}/me")
    callback = seen[-1]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")

    page.goto(callback)  # the browser's back button, or a link someone copied
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("alert")).to_contain_text(
        "OpenID Connect sign-in failed: this sign-in was not started in this browser, or it "
        "has expired or was already used; sign in again")
    expect(_who(page)).to_have_count(0)
    check_accessible(page)
    screenshot(page, "oidc-replayed-state")

    page.goto(f"{live_server.url}/auth/oidc/callback?code=abc&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("OpenID Connect sign-in failed")
    expect(_who(page)).to_have_count(0)


def test_local_sign_up_sign_out_and_sign_in(page: Page, live_server, check_accessible,
                                           screenshot) -> None:
    email, password = "lotte@startup-e2e.example", "correct horse battery staple"
    page.goto(live_server.url + "/sign-up")
    page.get_by_label("Your name").fill("Lotte")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("The password again").fill(password)
    page.get_by_role("button", name="Create the account").click()
    page.wait_for_url(f"{live_server.url}/me")
    expect(_who(page)).to_have_text(email)
    expect(page.get_by_text(f"Signed in as {email}.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    check_accessible(page)
    screenshot(page, "signed-out")

    page.goto(live_server.url + "/sign-in")
    form = page.locator("form[action='/sign-in']")
    form.get_by_label("E-mail address").fill(email)
    form.get_by_label("Password").fill("a wrong password!")
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong e-mail address or password")
    expect(form.get_by_label("E-mail address")).to_have_value(email)  # kept for the retry
    check_accessible(page)
    screenshot(page, "sign-in-wrong-password")

    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/me")
    expect(_who(page)).to_have_text(email)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_site(tmp_path) -> Iterator[Callable[[str, str], str]]:  # type: ignore[no-untyped-def]
    """other_site(host, html) -> the URL of a page served by another loopback server."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def serve(host: str, html: str) -> str:
        (tmp_path / "page.html").write_text(html)
        return f"http://{host}:{server.server_address[1]}/page.html"

    yield serve
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("host", "token"), [
    ("127.0.0.1", None),  # same site, other origin: the session cookie goes along
    ("127.0.0.1", "forged"),
    ("localhost", "forged"),  # another site: SameSite=Lax holds the cookies back as well
    # Cookies do not keep ports apart: the other origin tries to set its own CSRF cookie for
    # this host and sends the matching token. The portal's cookie is Secure (and HttpOnly),
    # which a page's script may neither replace nor shadow with a longer path.
    ("127.0.0.1", "tossed"),
])
def test_a_form_posted_from_another_site_is_refused(
        page: Page, live_server, sign_in, other_site, check_accessible, screenshot,
        host: str, token: str | None) -> None:
    person = live_server.person(f"victim-{host}-{token}@e2e.example")
    sign_in(page, person)
    hidden = f'<input type="hidden" name="csrf_token" value="{token}">' if token else ""
    toss = ('<script>document.cookie = "fabriek_csrf=tossed; path=/";'
            'document.cookie = "fabriek_csrf=tossed; path=/sign-out";'
            'document.cookie = "probe=1; path=/";</script>' if token == "tossed" else "")
    page.goto(other_site(host, f"""<!doctype html><html lang="en"><title>Prizes</title>{toss}
        <form method="post" action="{live_server.url}/sign-out">{hidden}
        <button type="submit">Claim your prize</button></form></html>"""))
    if token == "tossed":  # the script ran, and the browser refused its CSRF cookies
        jar = {(c["name"], c["value"]) for c in page.context.cookies(live_server.url)}
        assert ("probe", "1") in jar and ("fabriek_csrf", "tossed") not in jar
    page.get_by_role("button", name="Claim your prize").click()
    page.wait_for_url(f"{live_server.url}/sign-out")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text("CSRF check failed")
    if host == "127.0.0.1":
        check_accessible(page)
        screenshot(page, "csrf-refused")
    # Still signed in: the forged sign-out did nothing.
    page.goto(f"{live_server.url}/me")
    expect(_who(page)).to_have_text(person.email)
