"""Pure authorisation predicates of the federation (no I/O).

The catalogue is public: every signed-in person reads every factory. A factory operator
changes only the factories assigned to them (`factory_operators`); access officers change any
factory and assign operators.
"""

from __future__ import annotations

from collections.abc import Collection

from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal


def can_operate(p: Principal, factory_id: str, operated: Collection[str]) -> bool:
    """Set capacity and maintenance windows of this factory."""
    return p.has(Role.access_officer) or (p.has(Role.factory_operator)
                                          and factory_id in operated)


def can_assign_operators(p: Principal) -> bool:
    return p.has(Role.access_officer)


def can_see_operators(p: Principal, factory_id: str, operated: Collection[str]) -> bool:
    return can_operate(p, factory_id, operated)
