"""Signing up, in (password or OpenID Connect) and out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from fabriek.errors import BadRequest, FabriekError, Unavailable
from fabriek.identity import web as identity
from fabriek.portal import web
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
    def work(session):  # type: ignore[no-untyped-def]
        from fabriek.identity.models import User

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
            raise BadRequest("the two passwords differ")
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


@router.post("/auth/oidc/start")
def oidc_start(request: Request, form: Form) -> Response:
    client = request.app.state.oidc
    if client is None:
        raise Unavailable("OpenID Connect sign-in is not configured on this server")
    started = client.start(_redirect_uri(request))
    target = web.safe_path(web.field(form, "next", "/me"))
    web.in_transaction(request, lambda s: identity.remember_flow(
        s, state=started.state, nonce=started.nonce, code_verifier=started.code_verifier,
        return_to=target))
    return RedirectResponse(started.url, status_code=303)


@router.get("/auth/oidc/callback")
def oidc_callback(request: Request, state: str = "", error: str = "",
                  error_description: str = "") -> Response:
    client = request.app.state.oidc
    if client is None:
        raise Unavailable("OpenID Connect sign-in is not configured on this server")
    if error:
        return web.render(request, "sign_in.html", status_code=401, next="/me",
                          error=f"the identity provider refused: {error_description or error}")
    flow = web.in_transaction(request, lambda s: _take(s, state))
    claims = client.finish(_redirect_uri(request), str(request.url),
                           code_verifier=flow["code_verifier"], nonce=flow["nonce"])
    user_id = web.in_transaction(request, lambda s: identity.user_for_identity(
        s, issuer=claims.issuer, subject=claims.subject, email=claims.email,
        email_verified=claims.email_verified, name=claims.name).id)
    return _signed_in(request, user_id, "oidc", flow["return_to"])


def _take(session, state: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    flow = identity.take_flow(session, state)
    return {"code_verifier": flow.code_verifier, "nonce": flow.nonce,
            "return_to": flow.return_to}
