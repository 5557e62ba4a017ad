"""Mounting the portal on the API's application: its routes, static files, security headers,
and errors shown as pages (the API's paths keep their problem+json answers)."""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fabriek.errors import FabriekError
from fabriek.portal import oidc, web
from fabriek.portal.routes import ROUTERS
from fabriek.settings import Settings

_STATIC = Path(__file__).parent / "static"
# No inline script or style anywhere: the policy can forbid both.
_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
     b"script-src 'self'; form-action 'self' https: http:; frame-ancestors 'none'; "
     b"base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/docs", "/redoc", "/openapi.json"))


class PortalHeaders:
    """Adds the security headers to pages, and the CSRF cookie when a page minted one."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.secure = settings.secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_api(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_HEADERS)
                minted = scope.get("fabriek.csrf")
                if minted:
                    cookie: SimpleCookie = SimpleCookie()
                    cookie[web.CSRF_COOKIE] = minted
                    morsel = cookie[web.CSRF_COOKIE]
                    morsel.update({"path": "/", "httponly": True, "samesite": "Lax"})
                    morsel["secure"] = self.secure
                    headers.append((b"set-cookie", morsel.OutputString().encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    app.state.oidc = oidc.client_from(settings)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(PortalHeaders, settings=settings)
    _html_errors(app)


def _html_errors(app: FastAPI) -> None:
    api_fabriek = app.exception_handlers[FabriekError]
    api_http = app.exception_handlers[StarletteHTTPException]
    api_invalid = app.exception_handlers[RequestValidationError]

    async def on_fabriek(request: Request, exc: Exception) -> Response:
        if _is_api(request.url.path):
            return await api_fabriek(request, exc)
        assert isinstance(exc, FabriekError)
        if isinstance(exc, web.SignInRequired):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            from urllib.parse import quote
            return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)
        return web.render(request, "error.html", status_code=exc.status, title=exc.title,
                          detail=exc.detail)

    async def on_http(request: Request, exc: Exception) -> Response:
        if _is_api(request.url.path):
            return await api_http(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not found", 405: "Not allowed"}.get(exc.status_code, "Error")
        return web.render(request, "error.html", status_code=exc.status_code, title=title,
                          detail=str(exc.detail))

    async def on_invalid(request: Request, exc: Exception) -> Response:
        if _is_api(request.url.path):
            return await api_invalid(request, exc)
        assert isinstance(exc, RequestValidationError)
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                           for e in exc.errors())
        return web.render(request, "error.html", status_code=400, title="Bad request",
                          detail=detail)

    app.add_exception_handler(FabriekError, on_fabriek)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
