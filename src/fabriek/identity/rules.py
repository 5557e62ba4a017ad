"""Pure authorisation predicates about people and organisations."""

from __future__ import annotations

from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal


def can_see_organisation(p: Principal, organisation_id: int) -> bool:
    return p.is_member(organisation_id) or p.has(Role.access_officer)


def can_manage_organisation(p: Principal, organisation_id: int) -> bool:
    return p.is_org_admin(organisation_id)


def can_register_organisation(p: Principal) -> bool:
    return p.has(Role.applicant) or p.has(Role.access_officer)


def can_manage_users(p: Principal) -> bool:
    return p.has(Role.access_officer)
