"""Pure authorisation predicates for proposals, reviews and allocations."""

from __future__ import annotations

from collections.abc import Iterable

from fabriek.access.enums import ReviewState
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal


def is_applicant_of(p: Principal, organisation_id: int) -> bool:
    return p.is_member(organisation_id)


def can_see_proposal(
    p: Principal, organisation_id: int, reviews: Iterable[tuple[int, ReviewState]]
) -> bool:
    """Members, access officers, and reviewers assigned to it without a conflict."""
    if p.is_member(organisation_id) or p.has(Role.access_officer):
        return True
    return p.has(Role.reviewer) and any(
        reviewer_id == p.user_id and state is not ReviewState.conflict
        for reviewer_id, state in reviews
    )


def can_edit_proposal(p: Principal, organisation_id: int) -> bool:
    return p.is_member(organisation_id)


def can_decide(p: Principal) -> bool:
    return p.has(Role.access_officer)


def can_review_for(p: Principal, organisation_id: int) -> bool:
    """A reviewer never reviews a proposal of their own organisation (conflict of interest)."""
    return p.has(Role.reviewer) and not p.is_member(organisation_id)


def can_see_private_review_notes(p: Principal, organisation_id: int) -> bool:
    return p.has(Role.access_officer) and not p.is_member(organisation_id)


def can_see_allocation(p: Principal, organisation_id: int) -> bool:
    return p.is_member(organisation_id) or p.has(Role.access_officer) or p.has(
        Role.factory_operator)


def audit_event_for(p: Principal, action: str, actor: str, reason: str,
                    data: dict) -> tuple[str, str, dict]:  # type: ignore[type-arg]
    """What of an audit event a person sees: reviewers stay anonymous to all but officers."""
    if p.has(Role.access_officer) or not action.startswith("review."):
        return actor, reason, data
    return "a reviewer", "", {k: v for k, v in data.items() if k != "reviewer_id"}
