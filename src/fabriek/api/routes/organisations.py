"""Organisations and their members."""

from __future__ import annotations

from fastapi import APIRouter, Request

from fabriek.access import policy as pol
from fabriek.api.deps import (
    Access,
    IdempotencyHeader,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    commit_and_respond,
    idempotent,
)
from fabriek.api.pagination import After, Limit, Page, page
from fabriek.identity import service
from fabriek.identity.models import Organisation
from fabriek.identity.schemas import (
    ClassificationRead,
    EligibilityRead,
    MembershipCreate,
    MembershipRead,
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
)
from fabriek.kit.clock import utcnow

router = APIRouter(prefix="/api/v1/organisations", tags=["organisations"])


def organisation_view(org: Organisation, access) -> OrganisationRead:  # type: ignore[no-untyped-def]
    facts = pol.OrganisationFacts(
        kind=org.kind, country=org.country, founded_on=org.founded_on, headcount=org.headcount,
        turnover_eur=org.turnover_eur, balance_sheet_eur=org.balance_sheet_eur,
        public_control=org.public_control)
    c = pol.classify_organisation(facts, access.policy.classification, utcnow().date())
    e = pol.check_eligibility(org.country, access.policy.eligibility)
    return OrganisationRead.model_validate({
        **{k: getattr(org, k) for k in OrganisationRead.model_fields
           if k not in ("classification", "eligibility")},
        "classification": ClassificationRead(size_class=c.size_class.value,
                                             categories=sorted(c.categories),
                                             reasons=list(c.reasons)),
        "eligibility": EligibilityRead(eligible=e.eligible, country=e.country,
                                       groups=list(e.groups), reason=e.reason)})


@router.post("", response_model=OrganisationRead, status_code=201)
def register(body: OrganisationCreate, request: Request, session: WriteSession,
             principal: Writer, access: Access, vouch: bool = False,
             key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Register an organisation; you become its admin. `vouch=true` vouches for its facts."""
    return idempotent(request, session, principal, key, [body, vouch], lambda: organisation_view(
        service.register_organisation(session, principal, body, vouch=vouch), access), 201)


@router.get("", response_model=Page[OrganisationRead])
def list_(session: ReadSession, principal: Reader, access: Access, limit: Limit = 50,
          after: After = 0) -> Page[OrganisationRead]:
    orgs = service.list_organisations(session, principal, after=after, limit=limit)
    return page([organisation_view(o, access) for o in orgs], [o.id for o in orgs], limit)


@router.get("/{organisation_id}", response_model=OrganisationRead)
def show(organisation_id: int, session: ReadSession, principal: Reader, access: Access
         ) -> OrganisationRead:
    return organisation_view(service.get_organisation(session, principal, organisation_id),
                             access)


@router.patch("/{organisation_id}", response_model=OrganisationRead)
def update(organisation_id: int, body: OrganisationUpdate, session: WriteSession,
           principal: Writer, access: Access):  # type: ignore[no-untyped-def]
    """Change facts; the organisation must then be vouched for again."""
    org = service.update_organisation(session, principal, organisation_id, body)
    return commit_and_respond(session, organisation_view(org, access))


@router.post("/{organisation_id}/vouch", response_model=OrganisationRead)
def vouch(organisation_id: int, request: Request, session: WriteSession, principal: Writer,
          access: Access, key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """An organisation admin vouches that the facts (country, type, size) are true."""
    return idempotent(request, session, principal, key, None, lambda: organisation_view(
        service.vouch_organisation(session, principal, organisation_id), access))


@router.get("/{organisation_id}/members", response_model=list[MembershipRead])
def members(organisation_id: int, session: ReadSession, principal: Reader
            ) -> list[MembershipRead]:
    return [MembershipRead(user_id=u.id, email=u.email, role=m.role)
            for m, u in service.list_members(session, principal, organisation_id)]


@router.post("/{organisation_id}/members", response_model=MembershipRead, status_code=201)
def add_member(organisation_id: int, body: MembershipCreate, request: Request,
               session: WriteSession, principal: Writer, key: IdempotencyHeader = None
               ):  # type: ignore[no-untyped-def]
    def produce() -> MembershipRead:
        m, u = service.add_member(session, principal, organisation_id, body)
        return MembershipRead(user_id=u.id, email=u.email, role=m.role)

    return idempotent(request, session, principal, key, body, produce, 201)
