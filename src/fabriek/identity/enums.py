"""Roles. Global roles are held by a person; membership roles within one organisation."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    applicant = "applicant"
    org_admin = "org-admin"
    reviewer = "reviewer"
    access_officer = "access-officer"
    factory_operator = "factory-operator"
    data_steward = "data-steward"
    observer = "observer"

    @classmethod
    def global_roles(cls) -> frozenset[Role]:
        """Roles granted to a person, not through an organisation."""
        return frozenset({cls.applicant, cls.reviewer, cls.access_officer, cls.factory_operator,
                          cls.data_steward, cls.observer})


class MembershipRole(StrEnum):
    member = "member"  # an applicant of the organisation
    admin = "admin"  # vouches for the organisation's facts, manages members


class OrganisationKind(StrEnum):
    """What the organisation is; its size class (start-up, SME, large) is derived by policy."""

    enterprise = "enterprise"
    research = "research"  # research organisation or university
    public_authority = "public-authority"
    eu_project = "eu-project"  # an EU-funded project consortium
