"""A programme a few months in, written straight into the database with exact times (what the
access service and the reconciler would have recorded), so every figure can be worked out by
hand. The expected figures are in tests/observatory/test_service.py.

Organisations: Lumen Vision (NL start-up), Big Motors (DE, large), Instituto de Clima (ES,
research), Hidden Health (FR, an SME founded in 2001) whose proposal is confidential.
Factories: the embedded `local` (256 GPUs in the tests) and `north` (8 GPUs, connected).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from fabriek.access.enums import AllocationState, ProposalState
from fabriek.access.models import Allocation, Proposal
from fabriek.compliance.models import ModelLedger
from fabriek.compute.enums import JobState
from fabriek.compute.models import Job
from fabriek.federation.models import Factory
from fabriek.identity.enums import OrganisationKind
from fabriek.identity.models import Organisation, User
from tests.support.federation import add_factory

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
D, H = timedelta(days=1), timedelta(hours=1)
SECRET_TITLE = "Project Nightingale: an oncology foundation model"
SECRET_MODEL = "nightingale-onc"
SECRET_ORG = "Hidden Health SAS"
S = ProposalState


@dataclass
class Seeder:
    session: Session
    user_id: int = 0
    suffix: str = ""

    def org(self, name: str, country: str, kind: OrganisationKind = OrganisationKind.enterprise,
            **facts: Any) -> int:
        o = Organisation(legal_name=name, country=country,
                         registration_id=f"REG-{name[:12]}{self.suffix}", kind=kind,
                         created_by_id=self.user_id, vouched_by_id=self.user_id,
                         vouched_at=NOW - 365 * D, **facts)
        self.session.add(o)
        self.session.flush()
        return o.id

    def proposal(self, org: int, mode: str, sector: str, state: S, gpu_hours: int,
                 submitted_at: datetime | None, *, confidential: bool = False,
                 title: str = "Open work") -> Proposal:
        p = Proposal(organisation_id=org, created_by_id=self.user_id, mode=mode, state=state,
                     title=title, abstract="What we will do.", sector=sector,
                     gpu_hours=gpu_hours, duration_months=3, start_on=NOW.date(),
                     intended_system="a model", civilian_use=True, confidential=confidential,
                     submitted_at=submitted_at, datasets=[], languages=[], policy_versions={})
        self.session.add(p)
        self.session.flush()
        return p

    def allocation(self, p: Proposal, factory: str, gpu_hours: int,
                   state: AllocationState = AllocationState.active) -> int:
        a = Allocation(proposal_id=p.id, organisation_id=p.organisation_id, factory=factory,
                       partition="gpu", gpu_hours=gpu_hours, start_on=NOW.date() - 90 * D,
                       end_on=NOW.date() + 90 * D, priority_class="standard", state=state)
        self.session.add(a)
        self.session.flush()
        return a.id

    def job(self, allocation_id: int, org: int, factory: str, *, gpus: int, state: JobState,
            queued_at: datetime | None, started_at: datetime | None,
            ended_at: datetime | None = None, used: float = 0.0, prior: float = 0.0,
            preempted_at: datetime | None = None, model: str | None = None) -> None:
        self.session.add(Job(
            organisation_id=org, owner_id=self.user_id, allocation_id=allocation_id,
            name="train", spec={}, gpus=gpus, time_limit_minutes=6000, model=model,
            factory=factory, partition="gpu", executor="local", priority_class="standard",
            priority_rank=500, state=state, queued_at=queued_at, started_at=started_at,
            ended_at=ended_at, gpu_hours_used=used, gpu_hours_prior=prior,
            preemptions=1 if preempted_at else 0, last_preempted_at=preempted_at,
            created_at=queued_at or NOW))

    def ledger(self, org: int, model: str, reported_flop: float) -> None:
        self.session.add(ModelLedger(organisation_id=org, model=model, basis="reported",
                                     reported_flop=reported_flop, updated_by_id=self.user_id,
                                     updated_at=NOW))


def seed(session: Session, suffix: str = "") -> dict[str, int]:
    """The scenario; with a `suffix`, the same programme once more beside the first."""
    user = User(email=f"seed{suffix}@fabriek.example", display_name="Seed")
    session.add(user)
    session.flush()
    s = Seeder(session, user.id, suffix)
    if session.get(Factory, "north") is None:
        add_factory(session, "north", number=900, country="SE", gpus_per_node=4, nodes=2)
    lumen = s.org("Lumen Vision B.V.", "NL", founded_on=NOW.date() - 2 * 365 * D, headcount=12,
                  turnover_eur=Decimal(1_200_000), balance_sheet_eur=Decimal(800_000))
    motors = s.org("Big Motors AG", "DE", founded_on=date(1950, 1, 1), headcount=5000,
                   turnover_eur=Decimal(2_000_000_000), balance_sheet_eur=Decimal(10**9))
    clima = s.org("Instituto de Clima", "ES", OrganisationKind.research)
    hidden = s.org(SECRET_ORG, "FR", founded_on=date(2001, 1, 1), headcount=40,
                   turnover_eur=Decimal(5_000_000), balance_sheet_eur=Decimal(4_000_000))

    # Lumen: Playground, first job 2 h after submission, waited 1 h in the queue.
    p1 = s.proposal(lumen, "playground", "manufacturing", S.accepted, 2000, NOW - 10 * D)
    a1 = s.allocation(p1, "local", 2000)
    t = p1.submitted_at
    s.job(a1, lumen, "local", gpus=2, state=JobState.completed, queued_at=t + H,
          started_at=t + 2 * H, ended_at=t + 4 * H, used=4.0, model="small-model")
    # Lumen: Fast Lane in review, nothing running yet.
    s.proposal(lumen, "fast-lane", "healthcare", S.in_review, 40000, NOW - 3 * D)
    # Big Motors: Large Scale, granted less; its job runs since 30 h after submission.
    p3 = s.proposal(motors, "large-scale", "automotive", S.accepted_reduced, 80000, NOW - 5 * D)
    a3 = s.allocation(p3, "north", 60000)
    t = p3.submitted_at
    s.job(a3, motors, "north", gpus=4, state=JobState.running, queued_at=t + 20 * H,
          started_at=t + 30 * H, used=360.0)  # 4 GPUs × 90 h, up to NOW
    # Instituto: one rejected, one waiting for its cut-off.
    s.proposal(clima, "ai-for-science", "climate", S.rejected, 10000, NOW - 20 * D)
    s.proposal(clima, "ai-for-science", "climate", S.submitted, 5000, NOW - D)
    # Hidden Health: confidential Fast Lane; one job pre-empted after 3 h (its first start,
    # 43 h after submission, is not stored), one that ran 10 h on 8 GPUs.
    p5 = s.proposal(hidden, "fast-lane", "health", S.accepted, 30000, NOW - 8 * D,
                    confidential=True, title=SECRET_TITLE)
    a5 = s.allocation(p5, "local", 30000)
    t = p5.submitted_at
    s.job(a5, hidden, "local", gpus=2, state=JobState.queued, queued_at=t + 40 * H,
          started_at=None, preempted_at=t + 46 * H, prior=6.0, used=6.0, model=SECRET_MODEL)
    s.job(a5, hidden, "local", gpus=8, state=JobState.completed, queued_at=t + 48 * H,
          started_at=t + 50 * H, ended_at=t + 60 * H, used=80.0, model=SECRET_MODEL)
    s.ledger(hidden, SECRET_MODEL, 2e25)
    # Lumen: a strategic allocation two months ago; one job long before the window, one
    # across its start (half of it inside).
    p6 = s.proposal(lumen, "strategic", "manufacturing", S.accepted, 20000, NOW - 60 * D)
    a6 = s.allocation(p6, "local", 20000)
    t = p6.submitted_at
    s.job(a6, lumen, "local", gpus=1, state=JobState.completed, queued_at=t + 0.5 * H,
          started_at=t + H, ended_at=t + 25 * H, used=24.0, model="tulip-7b")
    s.job(a6, lumen, "local", gpus=1, state=JobState.completed, queued_at=NOW - 31 * D,
          started_at=NOW - 31 * D, ended_at=NOW - 29 * D, used=48.0, model="tulip-7b")
    s.ledger(lumen, "tulip-7b", 3e23)
    # Big Motors: a draft (never counts) and a quick Playground run.
    s.proposal(motors, "playground", "energy", S.draft, 1000, None)
    p9 = s.proposal(motors, "playground", "energy", S.accepted, 1000, NOW - 2 * D)
    a9 = s.allocation(p9, "north", 1000)
    t = p9.submitted_at
    s.job(a9, motors, "north", gpus=1, state=JobState.completed, queued_at=t + 0.1 * H,
          started_at=t + 0.5 * H, ended_at=t + 1.5 * H, used=1.0)
    # A revoked allocation's grant is not counted as allocated.
    s.allocation(p9, "north", 500, AllocationState.revoked)
    session.flush()
    return {"lumen": lumen, "motors": motors, "clima": clima, "hidden": hidden,
            "secret_proposal": p5.id}
