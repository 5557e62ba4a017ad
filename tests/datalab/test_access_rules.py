"""The pure read decision for every access level, grant expiry and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fabriek.datalab.access import (
    GrantFacts,
    GrantState,
    Project,
    ReaderFacts,
    grant_state,
    may_read,
)
from fabriek.datalab.enums import AccessLevel

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
ANON = ReaderFacts(signed_in=False)
MEMBER = ReaderFacts(signed_in=True, organisation_ids=frozenset({7}))
STEWARD = ReaderFacts(signed_in=True, is_steward=True)


def grant(**over) -> GrantFacts:
    body = dict(id=1, organisation_id=7, proposal_id=3, allocation_id=None,
                expires_at=NOW + timedelta(days=30), purpose="training a triage model")
    return GrantFacts(**{**body, **over})


def test_open_is_for_everyone():
    d = may_read(AccessLevel.open, ANON, [], NOW)
    assert (d.allowed, d.rule) == (True, "datalab.open")


@pytest.mark.parametrize("level", [AccessLevel.registered, AccessLevel.approval,
                                   AccessLevel.permit])
def test_every_other_level_needs_a_signed_in_reader(level):
    d = may_read(level, ANON, [grant(permit_reference="EHDS-1")], NOW)
    assert (d.allowed, d.rule) == (False, "datalab.sign-in")


def test_registered_is_for_any_signed_in_person():
    d = may_read(AccessLevel.registered, ReaderFacts(signed_in=True), [], NOW)
    assert (d.allowed, d.rule) == (True, "datalab.registered")


def test_approval_needs_a_grant_to_one_of_the_readers_organisations():
    assert may_read(AccessLevel.approval, MEMBER, [], NOW).rule == "datalab.no-grant"
    other = grant(organisation_id=8)
    assert not may_read(AccessLevel.approval, MEMBER, [other], NOW).allowed
    d = may_read(AccessLevel.approval, MEMBER, [other, grant()], NOW)
    assert (d.allowed, d.rule, d.grant.id) == (True, "datalab.grant", 1)


def test_permit_needs_a_grant_that_carries_a_permit():
    assert not may_read(AccessLevel.permit, MEMBER, [grant()], NOW).allowed
    d = may_read(AccessLevel.permit, MEMBER, [grant(permit_reference="HDAB-NL-2026-17")], NOW)
    assert (d.allowed, d.rule) == (True, "datalab.permit")


def test_a_grant_expires_at_its_moment_exactly():
    g = grant(expires_at=NOW)
    assert grant_state(g, NOW - timedelta(microseconds=1)) is GrantState.valid
    assert grant_state(g, NOW) is GrantState.expired
    d = may_read(AccessLevel.approval, MEMBER, [g], NOW)
    assert (d.allowed, d.rule) == (False, "datalab.grant-expired")
    assert "expired on 2026-11-21" in d.reason


def test_a_revoked_grant_no_longer_counts_even_before_expiry():
    g = grant(revoked_at=NOW - timedelta(hours=1))
    assert grant_state(g, NOW) is GrantState.revoked
    d = may_read(AccessLevel.approval, MEMBER, [g], NOW)
    assert (d.allowed, d.rule) == (False, "datalab.grant-revoked")
    # Another, valid grant of the same organisation still does.
    assert may_read(AccessLevel.approval, MEMBER, [g, grant(id=2)], NOW).allowed


def test_a_project_must_be_covered_by_the_grant():
    per_allocation = grant(allocation_id=11)
    job_on_11 = Project(organisation_id=7, proposal_id=3, allocation_id=11)
    job_on_12 = Project(organisation_id=7, proposal_id=3, allocation_id=12)
    other_proposal = Project(organisation_id=7, proposal_id=4, allocation_id=13)
    assert may_read(AccessLevel.approval, MEMBER, [per_allocation], NOW,
                    project=job_on_11).allowed
    assert not may_read(AccessLevel.approval, MEMBER, [per_allocation], NOW,
                        project=job_on_12).allowed
    whole_proposal = grant(allocation_id=None)
    assert may_read(AccessLevel.approval, MEMBER, [whole_proposal], NOW,
                    project=job_on_12).allowed
    assert not may_read(AccessLevel.approval, MEMBER, [whole_proposal], NOW,
                        project=other_proposal).allowed


def test_stewards_read_their_dataset_but_a_job_still_needs_a_grant():
    assert may_read(AccessLevel.permit, STEWARD, [], NOW).rule == "datalab.steward"
    project = Project(organisation_id=7, proposal_id=3, allocation_id=11)
    assert not may_read(AccessLevel.permit, STEWARD, [], NOW, project=project).allowed


def test_the_longest_lasting_valid_grant_is_used():
    short = grant(id=1, expires_at=NOW + timedelta(days=1))
    long = grant(id=2, expires_at=NOW + timedelta(days=90))
    assert may_read(AccessLevel.approval, MEMBER, [short, long], NOW).grant.id == 2
