"""API shapes of a referral: every factory's score with the terms that make it up."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from fabriek.federation.referral import Ranking
from fabriek.federation.referrals import Referral


class TermRead(BaseModel):
    name: str
    weight: float
    value: float = Field(description="0..1")
    points: float = Field(description="weight × value; the score is the sum of the points")
    explanation: str


class RankingRead(BaseModel):
    rank: int | None = Field(description="1 = first choice; null when excluded")
    factory: str
    factory_name: str
    partition: str | None
    eligible: bool
    score: float
    terms: list[TermRead]
    excluded_because: list[str]


class ReferralRead(BaseModel):
    proposal_id: int
    gpu_hours: float
    start_on: date
    end_on: date
    country: str
    sector: str | None = Field(description="the proposal's sector as a sector id, if known")
    languages: list[str]
    datasets: list[str]
    policy_version: str
    rankings: list[RankingRead]


def ranking_read(position: int | None, r: Ranking) -> RankingRead:
    return RankingRead(
        rank=position, factory=r.factory_id, factory_name=r.factory_name,
        partition=r.partition_id, eligible=r.eligible, score=r.score,
        terms=[TermRead(name=t.name, weight=t.weight, value=t.value, points=t.points,
                        explanation=t.explanation) for t in r.terms],
        excluded_because=list(r.excluded))


def referral_read(proposal_id: int, referral: Referral, policy_version: str) -> ReferralRead:
    q = referral.request
    eligible = {id(r): i + 1 for i, r in enumerate(referral.eligible)}
    return ReferralRead(
        proposal_id=proposal_id, gpu_hours=q.gpu_hours, start_on=q.start_on, end_on=q.end_on,
        country=q.country, sector=q.sector, languages=sorted(q.languages),
        datasets=sorted(q.datasets), policy_version=policy_version,
        rankings=[ranking_read(eligible.get(id(r)), r) for r in referral.rankings])
