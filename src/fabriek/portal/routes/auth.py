"""Signing up, in (password or OpenID Connect) and out."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from fabriek.errors import BadRequest, FabriekError, Unauthenticated, Unavailable
from fabriek.identity import web as identity
from fabriek.portal import web
from fabriek.portal.i18n import N_
from fabriek.portal.web import Form, Viewer

router = APIRouter(include_in_schema=False)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limits(request: Request) -> identity.SignInLimits:
    from datetime import timedelta

    s = web.settings_of(request)
    return identity.SignInLimits(failures_per_email=s.sign_in_failures_allowed,
                                 window=timedelta(minutes=s.sign_in_window_minutes))


def _signed_in(request: Request, user_id: int, method: str, target: str) -> Response:
    previous = request.cookies.get(web.SESSION_COOKIE)

    def work(session):  # type: ignore[no-untyped-def]
        from fabriek.identity.models import User

        if previous:  # signing in over an open session replaces it, on the server too
            identity.end_session(session, previous)
        return identity.start_session(session, session.get(User, user_id), method=method,
                                      hours=web.settings_of(request).web_session_hours)

    token = web.in_transaction(request, work)
    response = web.redirect(target)
    web.set_session_cookie(response, request, token)
    return response


@router.get("/sign-in")
def sign_in_page(request: Request, viewer: Viewer, next: str = "/me") -> Response:
    if viewer is not None:
        return web.redirect(next)
    return web.render(request, "sign_in.html", next=web.safe_path(next))


@router.post("/sign-in")
def sign_in(request: Request, form: Form) -> Response:
    email, target = web.field(form, "email"), web.safe_path(web.field(form, "next", "/me"))
    try:
        # The failed attempt must be kept even though sign-in fails: commit, then raise.
        def work(session):  # type: ignore[no-untyped-def]
            try:
                return identity.verify_password(
                    session, email=email, password=web.field(form, "password"),
                    client=_client(request), limits=_limits(request)).id, None
            except FabriekError as exc:
                return None, exc

        user_id, error = web.in_transaction(request, work)
        if error is not None:
            raise error
    except FabriekError as exc:
        return web.render(request, "sign_in.html", status_code=exc.status, error=exc.detail,
                          email=email, next=target)
    return _signed_in(request, user_id, "password", target)


@router.get("/sign-up")
def sign_up_page(request: Request) -> Response:
    return web.render(request, "sign_up.html")


@router.post("/sign-up")
def sign_up(request: Request, form: Form) -> Response:
    values = {k: web.field(form, k) for k in ("email", "display_name")}
    password, again = web.field(form, "password"), web.field(form, "password_again")
    try:
        if password != again:
            raise BadRequest(web.translate(request, N_("the two passwords differ")))
        user_id = web.in_transaction(request, lambda s: identity.sign_up(
            s, email=values["email"], display_name=values["display_name"],
            password=password).id)
    except FabriekError as exc:
        return web.render(request, "sign_up.html", status_code=exc.status, error=exc.detail,
                          **values)
    except ValueError as exc:  # e-mail validation from the identity schemas
        return web.render(request, "sign_up.html", status_code=400, error=str(exc), **values)
    return _signed_in(request, user_id, "password", "/me")


@router.post("/sign-out")
def sign_out(request: Request, form: Form) -> Response:
    token = request.cookies.get(web.SESSION_COOKIE)
    if token:
        web.in_transaction(request, lambda s: identity.end_session(s, token))
    response = web.redirect("/", flash="signed-out")
    response.delete_cookie(web.SESSION_COOKIE, path="/")
    return response


def _redirect_uri(request: Request) -> str:
    base = web.settings_of(request).public_url or str(request.base_url)
    return base.rstrip("/") + "/auth/oidc/callback"


# The flow's state also goes into a cookie of the browser that started it: the callback is
# taken only from that browser, so a callback link made with someone else's sign-in (login
# CSRF: the victim would end up working in the attacker's account) is refused.
FLOW_COOKIE = "fabriek_oidc_state"
_FLOW_PATH = "/auth/oidc/"
# What the provider's error codes mean to the person (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
_PROVIDER_ERRORS = {
    "access_denied": N_("the sign-in was cancelled or refused at the identity provider"),
    "login_required": N_("the identity provider needs you to sign in there first"),
    "consent_required": N_("the identity provider needs your consent first"),
    "interaction_required": N_("the identity provider needs you to act there first"),
    "temporarily_unavailable": N_("the identity provider is unavailable for a moment; try "
                                  "again"),
    "server_error": N_("the identity provider failed; try again later"),
}
_NOT_CONFIGURED = N_("OpenID Connect sign-in is not configured on this server")


@router.post("/auth/oidc/start")
def oidc_start(request: Request, form: Form) -> Response:
    client = request.app.state.oidc
    if client is None:
        raise Unavailable(web.translate(request, _NOT_CONFIGURED))
    started = client.start(_redirect_uri(request))
    target = web.safe_path(web.field(form, "next", "/me"))
    web.in_transaction(request, lambda s: identity.remember_flow(
        s, state=started.state, nonce=started.nonce, code_verifier=started.code_verifier,
        return_to=target))
    response = RedirectResponse(started.url, status_code=303)
    flags = {**web.cookie_flags(request), "path": _FLOW_PATH}
    response.set_cookie(FLOW_COOKIE, started.state,
                        max_age=int(identity.FLOW_LIFETIME.total_seconds()), **flags)
    return response


def _started_here(request: Request, state: str) -> bool:
    bound = request.cookies.get(FLOW_COOKIE, "")
    return bool(state and bound) and hmac.compare_digest(bound.encode(), state.encode())


@router.get("/auth/oidc/callback")
def oidc_callback(request: Request, state: str = "", error: str = "",
                  error_description: str = "") -> Response:
    """Where the provider sends the browser back. Whatever goes wrong, the person lands on the
    sign-in page with the reason and can try again; nothing is signed in."""
    try:
        response = _finish_sign_in(request, state, error, error_description)
    except FabriekError as exc:
        response = web.render(request, "sign_in.html", status_code=exc.status, next="/me",
                              error=web.translate(
                                  request, N_("OpenID Connect sign-in failed: %(reason)s"),
                                  reason=exc.detail))
    response.delete_cookie(FLOW_COOKIE, path=_FLOW_PATH)
    return response


def _finish_sign_in(request: Request, state: str, error: str, error_description: str
                    ) -> Response:
    client = request.app.state.oidc
    if client is None:
        raise Unavailable(web.translate(request, _NOT_CONFIGURED))
    if not _started_here(request, state):
        raise BadRequest(web.translate(request, N_(
            "this sign-in was not started in this browser, or it has expired or was already "
            "used; sign in again")))
    flow = web.in_transaction(request, lambda s: identity.take_flow(s, state))
    if error:
        # Only now, with the flow this browser started, is the provider's own text shown.
        reason = web.translate(request, _PROVIDER_ERRORS.get(
            error, N_("the identity provider refused the sign-in")))
        detail = f" ({error_description[:200]})" if error_description else ""
        raise Unauthenticated(f"{reason}{detail}")
    claims = client.finish(_redirect_uri(request), str(request.url), state=state,
                           code_verifier=flow.code_verifier, nonce=flow.nonce)
    user_id = web.in_transaction(request, lambda s: identity.user_for_identity(
        s, issuer=claims.issuer, subject=claims.subject, email=claims.email,
        email_verified=claims.email_verified, name=claims.name).id)
    return _signed_in(request, user_id, "oidc", flow.return_to)
