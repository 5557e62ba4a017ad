"""An applicant's organisations: registering one with its eligibility and size class explained
as the facts are typed, its page with members and vouching."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry
from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from fabriek.access import policy as pol
from fabriek.access import service as access
from fabriek.access.policy_files import is_country_code
from fabriek.api.routes.organisations import organisation_view
from fabriek.errors import FabriekError
from fabriek.identity import service as identity
from fabriek.identity.enums import MembershipRole, OrganisationKind
from fabriek.identity.schemas import MembershipCreate, OrganisationCreate
from fabriek.kit.clock import utcnow
from fabriek.portal import forms, web
from fabriek.portal.web import Form, User

router = APIRouter(include_in_schema=False)

FIELDS = ("legal_name", "country", "registration_id", "vat_id", "kind", "founded_on",
          "headcount", "turnover_eur", "balance_sheet_eur")
CHECKBOXES = ("public_control", "vouch")


# --- the explanation: eligibility and size class from what has been typed so far --------------


@dataclass(frozen=True)
class Explanation:
    eligibility: pol.Eligibility | None  # None until a country is chosen
    classification: pol.Classification | None  # None until the kind is chosen


def _lenient_int(text: str) -> int | None:
    try:
        return int(text.replace(" ", "").replace(",", "").replace("_", "")) if text else None
    except ValueError:
        return None


def _lenient_decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(" ", "").replace(",", "").replace("_", "")) if text else None
    except InvalidOperation:
        return None


def _lenient_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def explain(request: Request, typed: dict[str, Any]) -> Explanation:
    """Eligibility and classification by the same pure policy functions the admission checks
    use, from whatever facts parse so far (a half-typed figure is ignored, not an error)."""
    policy = request.app.state.access.policy
    country = str(typed.get("country") or "").strip().upper()
    eligibility = (pol.check_eligibility(country, policy.eligibility)
                   if is_country_code(country) else None)
    try:
        kind = OrganisationKind(str(typed.get("kind") or ""))
    except ValueError:
        return Explanation(eligibility, None)
    facts = pol.OrganisationFacts(
        kind=kind, country=country, founded_on=_lenient_date(str(typed.get("founded_on", ""))),
        headcount=_lenient_int(str(typed.get("headcount", ""))),
        turnover_eur=_lenient_decimal(str(typed.get("turnover_eur", ""))),
        balance_sheet_eur=_lenient_decimal(str(typed.get("balance_sheet_eur", ""))),
        public_control=bool(typed.get("public_control")))
    return Explanation(eligibility, pol.classify_organisation(
        facts, policy.classification, utcnow().date()))


def countries(lang: str) -> list[tuple[str, str]]:
    """(code, name in the page's language) for every ISO 3166-1 country and Kosovo (XK)."""
    names = Locale.parse(lang).territories
    codes = [c.alpha_2 for c in pycountry.countries] + ["XK"]
    named = [(code, names.get(code) or getattr(pycountry.countries.get(alpha_2=code), "name",
                                                   code)) for code in codes]
    return sorted(named, key=lambda pair: pair[1])


# --- registering ---------------------------------------------------------------------------------


def _typed(form: Any) -> dict[str, Any]:
    typed: dict[str, Any] = forms.values(form, FIELDS)
    typed.update({name: forms.checked(form, name) for name in CHECKBOXES})
    return typed


def _new_page(request: Request, typed: dict[str, Any], *, status_code: int = 200,
              problems: forms.Problems | None = None, error: str | None = None,
              checked: bool = False) -> Response:
    return web.render(request, "applicant/organisation_new.html", status_code=status_code,
                      typed=typed, problems=problems, error=error, checked=checked,
                      explanation=explain(request, typed),
                      countries=countries(web.lang_of(request)))


@router.get("/organisations/new")
def new_organisation(request: Request, principal: User) -> Response:
    return _new_page(request, {"vouch": True})


@router.get("/organisations/explain")
def explanation_fragment(request: Request, principal: User) -> Response:
    """The explanation alone, for the form to refresh as it is filled in (htmx)."""
    typed: dict[str, Any] = {k: request.query_params.get(k, "") for k in FIELDS}
    typed["public_control"] = "public_control" in request.query_params
    return web.render(request, "applicant/_organisation_explain.html",
                      explanation=explain(request, typed))


@router.post("/organisations/new")
def register_organisation(request: Request, principal: User, form: Form) -> Response:
    typed = _typed(form)
    if web.field(form, "action") == "check":
        return _new_page(request, typed, checked=True)
    try:
        data = OrganisationCreate.model_validate(forms.given(
            {k: v for k, v in typed.items() if k in FIELDS}) | {
            "public_control": typed["public_control"]})
    except ValidationError as exc:
        return _new_page(request, typed, status_code=400,
                         problems=forms.problems_of(exc, known=FIELDS))
    try:
        org_id = web.in_transaction(request, lambda s: identity.register_organisation(
            s, principal, data, vouch=typed["vouch"]).id)
    except FabriekError as exc:
        return _new_page(request, typed, status_code=exc.status, error=exc.detail)
    return web.redirect(f"/organisations/{org_id}", flash="organisation-registered")


# --- its page ------------------------------------------------------------------------------------


def _page_context(session: Any, request: Request, principal: Any, organisation_id: int
                  ) -> dict[str, Any]:
    org = identity.get_organisation(session, principal, organisation_id)
    return {
        "org": organisation_view(org, request.app.state.access),
        "members": [(m, u) for m, u in identity.list_members(session, principal, org.id)],
        "mode_labels": {m.id: m.label for m in request.app.state.access.policy.modes.modes},
        "is_admin": principal.is_org_admin(org.id),
        "is_member": principal.is_member(org.id),
        "proposals": access.list_proposals(session, principal, organisation_id=org.id,
                                           newest_first=True, limit=100),
    }


def _org_page(request: Request, principal: Any, organisation_id: int, *, status_code: int = 200,
              **extra: Any) -> Response:
    context = web.in_transaction(request, lambda s: _page_context(
        s, request, principal, organisation_id), readonly=True)
    return web.render(request, "applicant/organisation.html", status_code=status_code,
                      **context, **extra)


@router.get("/organisations/{organisation_id}")
def organisation_page(request: Request, principal: User, organisation_id: int) -> Response:
    return _org_page(request, principal, organisation_id)


@router.post("/organisations/{organisation_id}/members")
def add_member(request: Request, principal: User, form: Form, organisation_id: int
               ) -> Response:
    typed = {"email": web.field(form, "email"), "role": web.field(form, "role", "member")}
    try:
        data = MembershipCreate.model_validate(
            {"email": typed["email"], "role": typed["role"] or MembershipRole.member})
        web.in_transaction(request, lambda s: identity.add_member(
            s, principal, organisation_id, data))
    except ValidationError as exc:
        return _org_page(request, principal, organisation_id, status_code=400, member=typed,
                         problems=forms.problems_of(exc, known=("email", "role")))
    except FabriekError as exc:
        # Re-reading the page raises NotFound itself when the organisation is not visible.
        return _org_page(request, principal, organisation_id, status_code=exc.status,
                         member=typed, error=exc.detail)
    return web.redirect(f"/organisations/{organisation_id}", flash="member-added")


@router.post("/organisations/{organisation_id}/vouch")
def vouch(request: Request, principal: User, form: Form, organisation_id: int) -> Response:
    web.in_transaction(request, lambda s: identity.vouch_organisation(
        s, principal, organisation_id))
    return web.redirect(f"/organisations/{organisation_id}", flash="vouched")
