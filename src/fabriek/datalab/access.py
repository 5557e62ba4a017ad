"""Who may read a dataset's data, and whether a grant holds: pure functions, no I/O.

The same decision serves a download, a data-lab service and staging next to a job; each names
the rule that allowed or refused it, and the read log stores that rule.

- open: anyone, signed in or not;
- registered: any signed-in person;
- approval: a valid grant to one of the reader's organisations (for the project asked, when a
  project is named: staging names the job's allocation);
- permit: as approval, and the grant must carry the permit reference it was approved with.

A dataset's own stewards may always read it (they publish it). A grant is valid from its
creation until `expires_at` (exclusive) unless revoked; expiry is decided here at the moment
of use, never by a background job having run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fabriek.datalab.enums import AccessLevel


class GrantState(StrEnum):
    valid = "valid"
    expired = "expired"
    revoked = "revoked"


@dataclass(frozen=True)
class GrantFacts:
    id: int
    organisation_id: int
    proposal_id: int
    allocation_id: int | None  # None: every allocation of the proposal
    expires_at: datetime
    revoked_at: datetime | None = None
    permit_reference: str | None = None
    purpose: str = ""


@dataclass(frozen=True)
class ReaderFacts:
    signed_in: bool
    is_steward: bool = False
    organisation_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Project:
    """The project a read is for: an organisation's allocation (staging) or proposal."""

    organisation_id: int
    proposal_id: int
    allocation_id: int | None = None


@dataclass(frozen=True)
class ReadDecision:
    allowed: bool
    rule: str  # e.g. "datalab.grant"; stored in the read log
    reason: str
    grant: GrantFacts | None = None


def grant_state(grant: GrantFacts, now: datetime) -> GrantState:
    if grant.revoked_at is not None and grant.revoked_at <= now:
        return GrantState.revoked
    if now >= grant.expires_at:
        return GrantState.expired
    return GrantState.valid


def grant_is_valid(grant: GrantFacts, now: datetime) -> bool:
    return grant_state(grant, now) is GrantState.valid


def grant_covers(grant: GrantFacts, project: Project) -> bool:
    """Whether the grant is for this project: the same organisation and proposal, and either
    every allocation of it or exactly this one."""
    if grant.organisation_id != project.organisation_id:
        return False
    if grant.proposal_id != project.proposal_id:
        return False
    return grant.allocation_id is None or grant.allocation_id == project.allocation_id


def may_read(level: AccessLevel, reader: ReaderFacts, grants: Iterable[GrantFacts],
             now: datetime, *, project: Project | None = None) -> ReadDecision:
    """Whether the reader may read the dataset now (for `project` when given)."""
    if level is AccessLevel.open:
        return ReadDecision(True, "datalab.open", "the dataset is open to everyone")
    if not reader.signed_in:
        return ReadDecision(False, "datalab.sign-in",
                            f"the dataset is {level.value}-level: sign in first")
    if reader.is_steward and project is None:
        return ReadDecision(True, "datalab.steward", "a steward of the dataset")
    if level is AccessLevel.registered:
        return ReadDecision(True, "datalab.registered",
                            "the dataset is open to every signed-in person")
    # approval / permit: a grant is needed.
    candidates = [g for g in grants
                  if (g.organisation_id in reader.organisation_ids if project is None
                      else grant_covers(g, project))]
    if level is AccessLevel.permit:
        candidates = [g for g in candidates if g.permit_reference]
    valid = [g for g in candidates if grant_is_valid(g, now)]
    if valid:
        # The grant that lasts longest: the one a long read is least likely to outlive.
        best = max(valid, key=lambda g: (g.expires_at, g.id))
        rule = "datalab.permit" if level is AccessLevel.permit else "datalab.grant"
        return ReadDecision(True, rule, f"grant {best.id} valid until "
                                        f"{best.expires_at.isoformat()}", best)
    for_whom = ("this project" if project is not None else "your organisations")
    if candidates:
        states = {grant_state(g, now) for g in candidates}
        latest = max(candidates, key=lambda g: (g.expires_at, g.id))
        if states == {GrantState.revoked}:
            return ReadDecision(False, "datalab.grant-revoked",
                                f"the grant for {for_whom} was revoked", latest)
        return ReadDecision(False, "datalab.grant-expired",
                            f"the grant for {for_whom} expired on "
                            f"{latest.expires_at.date().isoformat()}", latest)
    needs = ("a grant with a data permit" if level is AccessLevel.permit
             else "a grant approved by a data steward")
    return ReadDecision(False, "datalab.no-grant",
                        f"the dataset needs {needs} for {for_whom}; request access first")
