"""Who is acting: a signed-in person with their global roles and organisation memberships."""

from __future__ import annotations

from dataclasses import dataclass, field

from fabriek.identity.enums import MembershipRole, Role


@dataclass(frozen=True)
class Principal:
    user_id: int | None  # None: the system itself (automatic checks, workers)
    email: str
    roles: frozenset[Role] = frozenset()
    memberships: dict[int, MembershipRole] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.email

    def has(self, role: Role) -> bool:
        return role in self.roles

    def is_member(self, organisation_id: int) -> bool:
        return organisation_id in self.memberships

    def is_org_admin(self, organisation_id: int) -> bool:
        return self.memberships.get(organisation_id) is MembershipRole.admin

    @property
    def organisation_ids(self) -> frozenset[int]:
        return frozenset(self.memberships)


SYSTEM = Principal(user_id=None, email="system", roles=frozenset())
