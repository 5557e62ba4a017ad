"""States and kinds of the access capability; imports nothing else from fabriek."""

from __future__ import annotations

from enum import StrEnum


class ApplicantCategory(StrEnum):
    startup = "startup"
    sme = "sme"
    large_enterprise = "large-enterprise"
    research = "research"
    public_authority = "public-authority"
    eu_project = "eu-project"


class SizeClass(StrEnum):
    """Rec. 2003/361 size classes, plus `unknown` when the figures to decide are missing."""

    micro = "micro"
    small = "small"
    medium = "medium"
    large = "large"
    unknown = "unknown"
    not_enterprise = "not-enterprise"


class ProcedureKind(StrEnum):
    automatic = "automatic"  # admission checks only
    review = "review"  # reviews, then a decision
    direct = "direct"  # an access officer allocates directly (strategic, emergency)


class DecidedBy(StrEnum):
    automatic = "automatic"
    access_officer = "access-officer"


class ReviewKind(StrEnum):
    technical = "technical"
    peer = "peer"
    ethics = "ethics"


class EthicsCommitment(StrEnum):
    ai_pact = "ai-pact"  # the organisation endorses the AI Pact
    platform_declaration = "platform-declaration"  # Fabriek's own declaration, signed


class ProposalState(StrEnum):
    draft = "draft"
    submitted = "submitted"  # checks passed; waiting for its cut-off or for review to start
    in_review = "in-review"
    accepted = "accepted"
    accepted_reduced = "accepted-reduced"  # accepted with less than requested
    rejected = "rejected"
    appealed = "appealed"
    withdrawn = "withdrawn"

    @classmethod
    def open_states(cls) -> frozenset[ProposalState]:
        return frozenset({cls.draft, cls.submitted, cls.in_review, cls.appealed})

    @classmethod
    def accepted_states(cls) -> frozenset[ProposalState]:
        return frozenset({cls.accepted, cls.accepted_reduced})

    @classmethod
    def withdrawable_states(cls) -> frozenset[ProposalState]:
        return frozenset({cls.draft, cls.submitted, cls.in_review, cls.appealed})


class DecisionOutcome(StrEnum):
    accept = "accept"
    accept_reduced = "accept-reduced"
    reject = "reject"


class ReviewState(StrEnum):
    assigned = "assigned"
    submitted = "submitted"
    conflict = "conflict"  # the reviewer declared a conflict of interest


class AllocationState(StrEnum):
    scheduled = "scheduled"  # starts in the future
    active = "active"
    ended = "ended"
    revoked = "revoked"
