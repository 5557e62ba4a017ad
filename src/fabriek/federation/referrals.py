"""Referral and placement of allocations, with the capacity ledger kept honest.

The access service calls `rank` when it checks and decides a proposal and `place_allocation`
when it creates an allocation: the referral ranks the factories (pure, explained), the first
one — or the access officer's choice, with a reason that is audited — becomes the home site, and
its capacity is taken under lock, re-checked against the ledger, so concurrent acceptances can
never promise more GPU-hours than exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from fabriek.access.models import Allocation, AllocationSite
from fabriek.errors import PolicyRefusal, ValidationFailed
from fabriek.federation import capacity, ledger
from fabriek.federation.catalogue import Catalogue, SectorIndex, load_catalogue
from fabriek.federation.domain import ExecutorKind, Federation
from fabriek.federation.referral import Ranking, ReferralRequest, hardware_problem, refer
from fabriek.federation.referral_policy import ReferralPolicy
from fabriek.federation.service import current_federation

SiteKey = tuple[str, str]


@dataclass(frozen=True)
class FederationConfig:
    """The catalogue's static parts and the referral policy, loaded once at start-up."""

    catalogue: Catalogue
    referral: ReferralPolicy

    @classmethod
    def load(cls, policy_dir: Path | None = None) -> FederationConfig:
        return cls(load_catalogue(policy_dir), ReferralPolicy.load(policy_dir))

    @classmethod
    def default(cls) -> FederationConfig:
        """The packaged catalogue and referral policy, loaded once per process."""
        global _DEFAULT
        if _DEFAULT is None:
            _DEFAULT = cls.load()
        return _DEFAULT

    @cached_property
    def _sectors(self) -> SectorIndex:
        return SectorIndex(self.catalogue.sectors)

    def sector_id(self, sector: str | None) -> str | None:
        if not sector:
            return None
        index = self._sectors  # built once: every submission resolves a sector
        return sector if sector in index.ids else index.sector_id(sector)

    def versions(self) -> dict[str, str]:
        return {**self.catalogue.versions, "referral": self.referral.version}


_DEFAULT: FederationConfig | None = None


@dataclass(frozen=True)
class Referral:
    request: ReferralRequest
    federation: Federation
    rankings: list[Ranking]
    # The partitions whose ledger rows for every week of the request existed when it was
    # ranked. Ledger rows are never deleted, so taking capacity there needs no INSERT of them.
    ledger_rows_exist: frozenset[SiteKey] = frozenset()

    @property
    def eligible(self) -> list[Ranking]:
        return [r for r in self.rankings if r.eligible]


def referral_request(config: FederationConfig, *, gpu_hours: float, start_on: date,
                     end_on: date, country: str, sector: str | None, gpu_model: str | None,
                     gpu_memory_gb: int | None, datasets: Sequence[str],
                     languages: Sequence[str]) -> ReferralRequest:
    return ReferralRequest(
        gpu_hours=gpu_hours, start_on=start_on, end_on=end_on, country=country,
        sector=config.sector_id(sector), gpu_model=gpu_model, gpu_memory_gb=gpu_memory_gb,
        datasets=frozenset(datasets), languages=frozenset(languages))


def rank(session: Session, config: FederationConfig, request: ReferralRequest, *,
         connected_only: bool = True, ranked: Referral | None = None) -> Referral:
    """Rank every factory for the request against the ledger as it stands (no lock).

    `ranked`: the same request ranked moments ago in another transaction (a submission ranks
    before its write transaction, so that the write lock is not held for it). It is used when
    the request and the federation are unchanged; the ledger may have moved meanwhile, which
    every ranking allows for: capacity is taken under lock, re-checked then (plan_and_take).
    """
    federation = current_federation(session, config.catalogue.federation.gpu_specs)
    if ranked is not None and ranked.request == request and ranked.federation is federation:
        return ranked
    keys = [p.key for p in federation.partitions()]
    committed = ledger.committed(session, keys, request.start_on, request.end_on)
    rankings = refer(request, federation, committed, config.referral,
                     connected_only=connected_only)
    weeks = len(capacity.weeks_between(request.start_on, request.end_on))
    return Referral(request, federation, rankings,
                    frozenset(k for k, rows in committed.items() if len(rows) == weeks))


@dataclass(frozen=True)
class SitePlan:
    home: SiteKey
    extra: tuple[SiteKey, ...]  # valid there too, holding no capacity (borrowing)
    reason: str  # why the home site: the referral's choice or the override
    overridden: bool
    fit: capacity.Fit


def _candidates(referral: Referral, factory: str | None, partition: str | None
                ) -> list[Ranking]:
    if factory is None:
        if partition is not None:
            raise ValidationFailed("name the factory of the partition too")
        return referral.eligible
    known = {r.factory_id: r for r in referral.rankings}
    if factory not in known:
        ids = ", ".join(sorted(known))
        raise ValidationFailed(f"unknown factory {factory!r}; the factories are: {ids}")
    chosen = known[factory]
    partitions = {p.id for p in referral.federation.by_id[factory].partitions}
    if partition is not None and partition not in partitions:
        raise ValidationFailed(f"{factory} has no partition {partition!r}; it has: "
                               f"{', '.join(sorted(partitions)) or 'none'}")
    if partition is not None and partition != chosen.partition_id:
        part = referral.federation.partition(factory, partition)
        assert part is not None
        problem = hardware_problem(referral.request, part) or (
            "it is not connected to this installation's schedulers"
            if part.executor is ExecutorKind.none else None)
        if problem:
            raise PolicyRefusal(f"{factory}/{partition} cannot take this allocation: {problem}",
                                rule="hardware of the chosen partition")
        # capacity is checked under lock by the caller
        return [Ranking(chosen.factory_id, chosen.factory_name, partition, True, chosen.score,
                        chosen.terms)]
    if not chosen.eligible:
        why = "; ".join(chosen.excluded) or "it cannot take the request"
        raise PolicyRefusal(f"{factory} cannot take this allocation: {why}",
                            rule="capacity and hardware of the chosen factory")
    return [chosen]


def _choices(referral: Referral, factory: str | None, partition: str | None,
             override_reason: str | None) -> tuple[list[Ranking], Ranking | None, bool]:
    """The candidates in rank order, the referral's first choice, and whether the officer
    overrides it. Raises ValidationFailed (unknown names, an override without a reason) and
    PolicyRefusal (the chosen factory cannot take it)."""
    candidates = _candidates(referral, factory, partition)  # unknown names fail first
    top = referral.eligible[0] if referral.eligible else None
    overridden = factory is not None and (
        top is None or top.factory_id != factory
        or (partition is not None and partition != top.partition_id))
    if overridden and not (override_reason and override_reason.strip()):
        best = f"{top.factory_id}/{top.partition_id}" if top else "none"
        raise ValidationFailed(
            f"the referral's first choice is {best}; choosing another factory needs a reason "
            "(override_reason)")
    return candidates, top, overridden


def _none_fits(referral: Referral, gpu_hours: float, problems: list[str]) -> PolicyRefusal:
    request = referral.request
    problems = problems or main_reasons(referral) or [
        "no factory is connected to this installation"]
    return PolicyRefusal("no factory can take this allocation: " + "; ".join(problems),
                         rule="capacity: no mode can allocate more GPU-hours than exist",
                         gpu_hours=gpu_hours, start_on=request.start_on.isoformat(),
                         end_on=request.end_on.isoformat())


def first_choice(referral: Referral, gpu_hours: float, *, factory: str | None = None,
                 partition: str | None = None, override_reason: str | None = None) -> SiteKey:
    """The site `plan_and_take` tries first, with the same refusals, before anything is taken
    (it moves on to the next candidate when the first has filled up meanwhile)."""
    candidates, _, _ = _choices(referral, factory, partition, override_reason)
    if not candidates:
        raise _none_fits(referral, gpu_hours, [])
    return (candidates[0].factory_id, candidates[0].partition_id or "")


def plan_and_take(session: Session, config: FederationConfig, referral: Referral,
                  gpu_hours: float, *, factory: str | None = None, partition: str | None = None,
                  override_reason: str | None = None) -> SitePlan:
    """Choose the home site and take its capacity in the ledger, under lock.

    The referral was ranked without a lock; each candidate is re-checked against locked ledger
    rows, in rank order, and the first that still fits is taken. Raises PolicyRefusal when none
    does (nothing is taken), ValidationFailed for an unknown factory/partition or an override
    without a reason.
    """
    candidates, top, overridden = _choices(referral, factory, partition, override_reason)
    request = referral.request
    problems = []
    for choice in candidates:
        key = (choice.factory_id, choice.partition_id or "")
        part = referral.federation.partition(*key)
        assert part is not None
        locked = ledger.lock(session, key, request.start_on, request.end_on,
                             create=key not in referral.ledger_rows_exist)
        fit = capacity.fit(part, locked, referral.federation.maintenance, gpu_hours,
                           request.start_on, request.end_on,
                           operational=referral.federation.by_id[key[0]].operational)
        if not fit.fits:
            problems.append(fit.message)
            continue
        ledger.add(session, key, gpu_hours, request.start_on, request.end_on)
        extra = tuple((r.factory_id, r.partition_id or "") for r in referral.eligible
                      if r.factory_id != key[0])[:config.referral.extra_sites]
        reason = (f"access officer's choice over the referral's {top.factory_id if top else '-'}"
                  f": {override_reason}" if overridden else
                  f"the referral's first choice (score {choice.score:g}); {fit.message}")
        return SitePlan(key, extra, reason, overridden, fit)
    raise _none_fits(referral, gpu_hours, problems)


def main_reasons(referral: Referral, limit: int = 3) -> list[str]:
    """Why the factories that could matter were excluded: those this installation reaches and
    that are in operation first (the others' reasons say little about the request)."""
    def weight(r: Ranking) -> int:
        reason = r.excluded[0]
        return 2 if "not in operation" in reason else 1 if "not connected" in reason else 0
    excluded = sorted((r for r in referral.rankings if r.excluded), key=weight)
    return [f"{r.factory_id}: {r.excluded[0]}" for r in excluded[:limit]]


def record_sites(session: Session, allocation_id: int, gpu_hours: float, start_on: date,
                 plan: SitePlan) -> None:
    """The new allocation's sites: the home one holding `gpu_hours` from `start_on`, the
    further ones valid without capacity. One executemany (nothing reads their ids back)."""
    site = {"allocation_id": allocation_id, "committed_from": start_on,
            "provisioned_at": None, "closed_at": None}
    rows = [{**site, "factory": plan.home[0], "partition": plan.home[1],
             "gpu_hours_committed": float(gpu_hours), "home": True}]
    rows += [{**site, "factory": f, "partition": p, "gpu_hours_committed": 0.0, "home": False}
             for f, p in plan.extra]
    session.connection().execute(_INSERT_SITES, rows)


_INSERT_SITES = insert(AllocationSite.__table__)


def _remaining(site: AllocationSite, end_on: date, from_on: date) -> float:
    """What the site still holds from `from_on` (its share is spread over its days)."""
    start = max(from_on, site.committed_from)
    if start > end_on or site.gpu_hours_committed <= 0:
        return 0.0
    days = (end_on - site.committed_from).days + 1
    return site.gpu_hours_committed * ((end_on - start).days + 1) / days


def resplit(session: Session, config: FederationConfig, allocation: Allocation,
            shares: Sequence[tuple[SiteKey, float]], request: ReferralRequest, from_on: date
            ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Move or split what the allocation holds from `from_on` to its end over new sites.

    `shares` gives each site's part of the grant (they add up to the grant); the part of the
    window already past stays where it was. Old holdings are released and new ones taken under
    lock, all or nothing. Sites with a zero share are valid there without holding capacity.
    Returns the sites before and after. Raises ValidationFailed, PolicyRefusal.
    """
    federation = current_federation(session, config.catalogue.federation.gpu_specs)
    keys = [k for k, _ in shares]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("a site is listed twice")
    if not any(hours > 0 for _, hours in shares):
        raise ValidationFailed("at least one site must hold GPU-hours")
    total = sum(hours for _, hours in shares)
    if abs(total - allocation.gpu_hours) > 1e-6:
        raise ValidationFailed(f"the shares add up to {total:,.0f} GPU-hours; the allocation "
                               f"grants {allocation.gpu_hours:,}")
    for (f, p), _ in shares:
        part = federation.partition(f, p)
        if part is None:
            raise ValidationFailed(f"unknown partition {f}/{p}")
        problem = hardware_problem(request, part) or (
            "it is not connected to this installation's schedulers"
            if part.executor is ExecutorKind.none else None)
        if problem:
            raise PolicyRefusal(f"{f}/{p} cannot take this allocation: {problem}",
                                rule="hardware of the chosen partition")
    end = allocation.end_on
    old = list(session.execute(select(AllocationSite).where(
        AllocationSite.allocation_id == allocation.id).order_by(AllocationSite.id)).scalars())
    before = [_site_dict(x) for x in old]
    locked = {}
    for key in sorted({(x.factory, x.partition) for x in old if x.gpu_hours_committed > 0}
                      | {k for k, h in shares if h > 0}):
        locked[key] = ledger.lock(session, key, from_on, end)
    for site in old:
        if (left := _remaining(site, end, from_on)) > 0:
            key = (site.factory, site.partition)
            ledger.add(session, key, -left, from_on, end)
            for week in capacity.weeks_between(from_on, end):  # the locked view, released
                locked[key][week] -= capacity.spread(left, from_on, end, week)
    days_total = (end - allocation.start_on).days + 1
    days_left = (end - from_on).days + 1
    provisioned = {(x.factory, x.partition): (x.provisioned_at, x.closed_at) for x in old}
    for site in old:
        session.delete(site)
    session.flush()
    new_sites = []
    home_key = max(shares, key=lambda s: s[1])[0]
    for key, hours in shares:
        held = hours * days_left / days_total
        if held > 0:
            part = federation.partition(*key)
            assert part is not None
            fit = capacity.fit(part, locked[key], federation.maintenance, held, from_on, end,
                               operational=federation.by_id[key[0]].operational)
            if not fit.fits:
                raise PolicyRefusal(fit.message, rule="capacity: no mode can allocate more "
                                    "GPU-hours than exist")
            ledger.add(session, key, held, from_on, end)
        pa, ca = provisioned.get(key, (None, None))
        new_sites.append(AllocationSite(
            allocation_id=allocation.id, factory=key[0], partition=key[1],
            gpu_hours_committed=held, committed_from=from_on, home=key == home_key,
            provisioned_at=pa, closed_at=ca))
    session.add_all(new_sites)
    allocation.factory, allocation.partition = home_key
    return before, [_site_dict(x) for x in new_sites]


def _site_dict(site: AllocationSite) -> dict[str, object]:
    return {"site": f"{site.factory}/{site.partition}", "home": site.home,
            "gpu_hours_committed": round(site.gpu_hours_committed, 3),
            "committed_from": site.committed_from.isoformat()}
