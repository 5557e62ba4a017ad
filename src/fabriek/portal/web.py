"""What every portal page needs: the signed-in person, the CSRF token, the language, the
cookies' flags, running service calls in a unit of work, and rendering a template."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from fabriek.db.session import Database
from fabriek.errors import BadRequest, FabriekError, Forbidden
from fabriek.identity.principal import Principal
from fabriek.identity.web import principal_for_session
from fabriek.portal import i18n
from fabriek.portal.i18n import N_
from fabriek.portal.rendering import templates
from fabriek.settings import Settings

SESSION_COOKIE = "fabriek_session"
CSRF_COOKIE = "fabriek_csrf"
CSRF_FIELD = "csrf_token"
T = TypeVar("T")
# What a redirect may announce on the next page: keys, never text from the URL, so a link
# cannot put words of an attacker's on our pages.
NOTICES = {
    "signed-out": N_("You are signed out."),
    "saved": N_("Saved."),
    "submitted": N_("Submitted."),
    "decided": N_("The decision is recorded."),
    "cancelled": N_("Cancellation requested."),
    "allocated": N_("The allocation is made."),
    "organisation-registered": N_("The organisation is registered; you are its administrator."),
    "member-added": N_("The member is added."),
    "vouched": N_("You vouched for the organisation's facts."),
    "draft-saved": N_("The draft is saved."),
    "assessment-attached": N_("The self-assessment is attached to the proposal."),
    "withdrawn": N_("The proposal is withdrawn."),
    "appealed": N_("Your appeal is recorded."),
    "job-submitted": N_("The job is admitted and queued."),
    "job-act-warning": N_("The job is admitted and queued. Its worst case could carry its "
                          "model past an AI Act compute threshold (10^23 or 10^25 FLOP): see "
                          "the model's compute ledger."),
    "conflict-declared": N_("Your conflict of interest is recorded; an access officer will "
                            "assign another reviewer."),
    "review-submitted": N_("Your review is submitted."),
    "reviewer-assigned": N_("The reviewer is assigned."),
    "released": N_("The cut-off is released: its proposals are open for review."),
    "maintenance-added": N_("The maintenance window is announced."),
    "maintenance-removed": N_("The maintenance window is withdrawn."),
    "capacity-set": N_("The partition's capacity is updated."),
    "data-requested": N_("Your request is sent; a data steward of the dataset decides on it."),
    "data-request-withdrawn": N_("The data request is withdrawn."),
    "data-decided": N_("The decision is recorded; the applicant sees it with your reasons."),
    "grant-revoked": N_("The grant is revoked: no new read or staging is allowed under it."),
}


class SignInRequired(FabriekError):
    status, code, title = 401, "sign_in_required", "Sign in first"


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def db_of(request: Request) -> Database:
    return request.app.state.db


def cookie_flags(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "lax", "secure": settings_of(request).secure_cookies,
            "path": "/"}


def lang_of(request: Request) -> str:
    cached = request.scope.get("fabriek.lang")
    if cached is None:
        cached = i18n.choose(request.cookies.get(i18n.LANG_COOKIE),
                             request.headers.get("accept-language"))
        request.scope["fabriek.lang"] = cached
    return cached


def gettext(request: Request) -> Callable[[str], str]:
    return i18n.translations(lang_of(request)).gettext


def translate(request: Request, message: str, **values: Any) -> str:
    """One of the portal's own messages (marked with N_() where it is written) in the reader's
    language, its %(name)s placeholders filled in after translation. Messages of the services
    are not passed here: they stay as the service wrote them."""
    text = gettext(request)(message)
    return text % values if values else text


def csrf_token(request: Request) -> str:
    """The token forms carry: the CSRF cookie's value (double submit), minted when absent."""
    token = request.cookies.get(CSRF_COOKIE) or request.scope.get("fabriek.csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.scope["fabriek.csrf"] = token  # set as a cookie on the way out
    return token


def current_principal(request: Request) -> Principal | None:
    """The signed-in person, or None; read once per request."""
    if "fabriek.principal" not in request.scope:
        token = request.cookies.get(SESSION_COOKIE)
        principal = None
        if token:
            with db_of(request).unit_of_work(readonly=True) as session:
                principal = principal_for_session(session, token)
        request.scope["fabriek.principal"] = principal
    return request.scope["fabriek.principal"]


def _viewer(request: Request) -> Principal | None:
    return current_principal(request)


def _signed_in(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise SignInRequired("sign in to see this page")
    return principal


Viewer = Annotated[Principal | None, Depends(_viewer)]
User = Annotated[Principal, Depends(_signed_in)]


async def _form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the cookie (compared in constant time)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not (isinstance(sent, str) and cookie and hmac.compare_digest(sent, cookie)):
        raise Forbidden("this form has expired or did not come from this site (CSRF check "
                        "failed); reload the page and send it again")
    return form


Form = Annotated[FormData, Depends(_form)]


def field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be text")
    return value.strip()


def fields(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def in_transaction(request: Request, work: Callable[[Session], T], *, readonly: bool = False
                   ) -> T:
    """Run `work` in one unit of work: committed when it returns, rolled back if it raises."""
    with db_of(request).unit_of_work(readonly=readonly) as session:
        return work(session)


def render(request: Request, template: str, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    lang = lang_of(request)
    principal = context.pop("principal", None) or current_principal(request)
    html = templates(lang).get_template(template).render(
        request=request, principal=principal, lang=lang, csrf_token=csrf_token(request),
        languages=i18n.LANGUAGES, language_name=i18n.language_name,
        oidc=request.app.state.oidc, notice=NOTICES.get(request.query_params.get("notice", "")),
        **context)
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str, *, flash: str | None = None) -> RedirectResponse:
    """A 303 to `url`, which must be a path on this site (never an open redirect); `flash`
    is a key of NOTICES."""
    target = safe_path(url)
    if flash:
        assert flash in NOTICES, flash
        path, hash_, anchor = target.partition("#")
        target = path + ("&" if "?" in path else "?") + "notice=" + quote(flash) + hash_ + anchor
    return RedirectResponse(target, status_code=303)


def safe_path(url: str | None) -> str:
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    hours = settings_of(request).web_session_hours
    response.set_cookie(SESSION_COOKIE, token, max_age=int(hours * 3600), **cookie_flags(request))
    # A new CSRF token with the new session, so one planted before sign-in is useless after.
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), **cookie_flags(request))
