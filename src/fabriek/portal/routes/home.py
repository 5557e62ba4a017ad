"""The landing page, the language switch, and each person's own start page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fabriek.portal import i18n, web
from fabriek.portal.routes import applicant_home, datalab
from fabriek.portal.web import User

router = APIRouter(include_in_schema=False)


@router.get("/")
def landing(request: Request) -> Response:
    return web.render(request, "landing.html")


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str = "/") -> Response:
    """Remembers the reader's choice; a preference, so a plain link may set it."""
    response = web.redirect(next)
    if lang in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400,
                            **web.cookie_flags(request))
    return response


@router.get("/me")
def my_page(request: Request, principal: User) -> Response:
    return web.render(request, "me.html", applicant=applicant_home.me_section(request, principal),
                      datalab=datalab.me_section(request, principal))
