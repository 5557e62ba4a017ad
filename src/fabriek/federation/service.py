"""Use cases of the federation: seed the catalogue, read factories, operators' capacity and
maintenance windows.

Every function: load → authorise (404 before 403) → validate → change → audit. None commits:
the edge (API request, CLI command) owns the transaction.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from fabriek.audit.service import record
from fabriek.db.installation import Installation
from fabriek.errors import Conflict, Forbidden, NotFound, ValidationFailed
from fabriek.federation import ledger, rules
from fabriek.federation.capacity import WeekCapacity, week_of, week_table
from fabriek.federation.catalogue import Catalogue, CatalogueRow, SectorIndex, gpu_spec
from fabriek.federation.domain import (
    CapacityBasis,
    ExecutorKind,
    FactoryProfile,
    Federation,
    GpuSpec,
    MaintenanceWindow,
    PartitionProfile,
    SiteKind,
)
from fabriek.federation.models import Factory, FactoryOperator, Maintenance, Partition
from fabriek.federation.schemas import (
    MAX_GPU_MEMORY_GB,
    MAX_GPUS_PER_NODE,
    MAX_NODES,
    CapacityUpdate,
    FactoryRead,
    FactorySummary,
    GpuSpecRead,
    MaintenanceCreate,
    MaintenanceRead,
    PartitionRead,
)
from fabriek.identity.enums import Role
from fabriek.identity.models import User, UserRole
from fabriek.identity.principal import Principal
from fabriek.kit.clock import as_utc, utcnow

log = logging.getLogger("fabriek.federation")

# Fields of a factory the catalogue owns: refreshed from a newer catalogue version.
_DESCRIPTIVE = ("name", "kind", "country", "site", "hosting_entity", "supercomputer",
                "system_status", "sector_focus", "sectors", "languages", "linked_factory",
                "operational", "sources")
# Fields of a partition an operator owns once they set them (basis `operator`).
_CAPACITY = ("gpu_model", "gpu_memory_gb", "gpus_per_node", "nodes", "capacity_basis",
             "capacity_note")


# --- seeding -----------------------------------------------------------------------------------


@dataclass
class SyncReport:
    inserted_factories: list[str] = field(default_factory=list)
    refreshed_factories: list[str] = field(default_factory=list)
    inserted_partitions: list[str] = field(default_factory=list)
    refreshed_partitions: list[str] = field(default_factory=list)
    kept_operator_capacity: list[str] = field(default_factory=list)


def _version_date(version: str) -> str:
    return version.split("+", 1)[0]


def _is_newer_or_same_date(current: str, stored: str) -> bool:
    # Versions are "<federation.yaml version>+<digest>"; an older release (say, during a
    # rolling upgrade) must not undo what a newer one wrote.
    return _version_date(current) >= _version_date(stored)


def _factory_fields(profile: FactoryProfile, row: CatalogueRow | None) -> dict[str, Any]:
    return {
        "name": profile.name, "kind": profile.kind, "country": profile.country,
        "site": row.site if row else "", "hosting_entity": row.hosting_entity if row else "",
        "supercomputer": row.supercomputer if row else "",
        "system_status": row.system_status if row else "",
        "sector_focus": row.sector_focus if row else "",
        "sectors": sorted(profile.sectors), "languages": sorted(profile.languages),
        "linked_factory": profile.linked_factory, "operational": profile.operational,
        "sources": list(row.sources) if row else [],
    }


def _partition_fields(p: PartitionProfile, note: str) -> dict[str, Any]:
    return {"gpu_model": p.gpu_model, "gpu_memory_gb": p.gpu_memory_gb,
            "gpus_per_node": p.gpus_per_node, "nodes": p.nodes,
            "capacity_basis": p.capacity_basis, "capacity_note": note}


def sync_catalogue(session: Session, catalogue: Catalogue, *, now: datetime | None = None
                   ) -> SyncReport:
    """Seed the factories and partitions from the catalogue; safe to run at every start-up.

    Inserts what is missing; when the catalogue version changed (and is not older), refreshes
    the descriptive fields and the capacity of partitions an operator has not set. Capacity
    with basis `operator` is never overwritten. Factories and partitions the catalogue no
    longer lists stay (allocations may refer to them). Not audited: it applies versioned
    policy data, like a migration.
    """
    now = now or utcnow()
    report = SyncReport()
    version = catalogue.version
    factories = {f.id: f for f in session.execute(select(Factory)).scalars()}
    partitions = {(p.factory_id, p.id): p for p in session.execute(select(Partition)).scalars()}
    number = max((f.number for f in factories.values()), default=0)
    for profile in catalogue.federation.factories:
        fields = _factory_fields(profile, catalogue.row(profile.id))
        existing = factories.get(profile.id)
        refresh = existing is None or (existing.catalogue_version != version
                                       and _is_newer_or_same_date(version,
                                                                  existing.catalogue_version))
        if existing is None:
            number += 1
            session.add(Factory(id=profile.id, number=number, datasets=sorted(profile.datasets),
                                catalogue_version=version, updated_at=now, **fields))
            report.inserted_factories.append(profile.id)
        elif refresh:
            changed = {k: v for k, v in fields.items() if getattr(existing, k) != v}
            for key, value in changed.items():
                setattr(existing, key, value)
            existing.catalogue_version = version
            if changed:
                existing.updated_at = now
                report.refreshed_factories.append(profile.id)
        for p in profile.partitions:
            key = p.key
            note = catalogue.capacity_notes.get(key, "")
            current = partitions.get(key)
            if current is None:
                session.add(Partition(factory_id=p.factory_id, id=p.id, executor=p.executor,
                                      updated_at=now, **_partition_fields(p, note)))
                report.inserted_partitions.append("/".join(key))
            elif refresh:
                current.executor = p.executor
                if current.capacity_basis is CapacityBasis.operator:
                    report.kept_operator_capacity.append("/".join(key))
                    continue
                changed = {k: v for k, v in _partition_fields(p, note).items()
                           if getattr(current, k) != v}
                for k, v in changed.items():
                    setattr(current, k, v)
                if changed:
                    current.updated_at = now
                    report.refreshed_partitions.append("/".join(key))
        session.flush()
    return report


# --- the federation as the pure functions see it ------------------------------------------------


def load_federation(session: Session, gpu_specs: Iterable[GpuSpec] | None = None
                    ) -> Federation:
    """The federation from the database: factories, partitions (operators' figures included)
    and maintenance windows. `gpu_specs` default: the packaged gpu-specs.yaml."""
    if gpu_specs is None:
        from fabriek.federation.catalogue import default_catalogue

        gpu_specs = default_catalogue().federation.gpu_specs
    by_factory: dict[str, list[PartitionProfile]] = {}
    for p in session.execute(select(Partition).order_by(Partition.factory_id, Partition.id)
                             ).scalars():
        by_factory.setdefault(p.factory_id, []).append(_profile(p))
    factories = tuple(
        FactoryProfile(id=f.id, name=f.name, kind=SiteKind(f.kind), country=f.country,
                       sectors=frozenset(f.sectors), languages=frozenset(f.languages),
                       datasets=frozenset(f.datasets), linked_factory=f.linked_factory,
                       partitions=tuple(by_factory.get(f.id, ())), operational=f.operational)
        for f in session.execute(select(Factory).order_by(Factory.id)).scalars())
    windows = tuple(
        MaintenanceWindow(factory_id=w.factory_id, partition_id=w.partition_id,
                          starts_at=w.starts_at, ends_at=w.ends_at, gpus=w.gpus,
                          reason=w.reason)
        for w in session.execute(select(Maintenance).order_by(Maintenance.starts_at,
                                                              Maintenance.id)).scalars())
    return Federation(factories=factories, gpu_specs=tuple(gpu_specs), maintenance=windows)


_REVISION = select(Installation.federation_revision).where(Installation.id == 1)


class _Loaded(NamedTuple):
    revision: int
    gpu_specs: tuple[GpuSpec, ...]
    federation: Federation


# Per database (a process may hold several: tests do), keyed by the engine's pool, which its
# option views (the read-only sessions' engine) share: the federation last loaded and the
# installation's federation_revision it was loaded at.
_LOADED: weakref.WeakKeyDictionary[Pool, _Loaded] = weakref.WeakKeyDictionary()


def current_federation(session: Session, gpu_specs: Iterable[GpuSpec] | None = None
                       ) -> Federation:
    """`load_federation`, kept in memory until a write to the federation's tables.

    One indexed read of the stamp that triggers move on every such write (migration 0010),
    instead of reading every factory, partition and window on every submission. The stamp is
    read first: a write committed between it and the tables makes the cached copy newer than
    its stamp, which only costs a reload.
    """
    if gpu_specs is None:
        from fabriek.federation.catalogue import default_catalogue

        gpu_specs = default_catalogue().federation.gpu_specs
    specs = tuple(gpu_specs)
    revision = session.execute(_REVISION).scalar()
    engine = session.get_bind()
    pool = engine.pool if isinstance(engine, Engine) else None
    cached = _LOADED.get(pool) if pool is not None else None
    if (cached is not None and revision is not None and cached.revision == revision
            and cached.gpu_specs == specs):
        return cached.federation
    federation = load_federation(session, specs)
    if revision is not None and pool is not None:
        _LOADED[pool] = _Loaded(revision, federation.gpu_specs, federation)
    return federation


def _profile(p: Partition) -> PartitionProfile:
    return PartitionProfile(factory_id=p.factory_id, id=p.id, gpu_model=p.gpu_model,
                            gpu_memory_gb=p.gpu_memory_gb, gpus_per_node=p.gpus_per_node,
                            nodes=p.nodes, capacity_basis=CapacityBasis(p.capacity_basis),
                            executor=ExecutorKind(p.executor))


def federation_for_executors(session: Session, catalogue: Catalogue) -> Federation:
    """What the executor registry is built from: the database once the catalogue is seeded
    (operators' figures count), else the catalogue itself (a fresh, unseeded database)."""
    try:
        federation = load_federation(session, catalogue.federation.gpu_specs)
    except SQLAlchemyError:  # the schema predates the federation tables
        log.warning("federation tables missing; using the catalogue (run `fabriek db upgrade`)")
        return catalogue.federation
    return federation if federation.factories else catalogue.federation


# --- reading -----------------------------------------------------------------------------------


def _factory(session: Session, factory_id: str) -> Factory:
    factory = session.get(Factory, factory_id)
    if factory is None:
        raise NotFound(f"factory {factory_id!r} not found; `fabriek factory list` shows them")
    return factory


def _operated(session: Session, principal: Principal) -> set[str]:
    if principal.user_id is None or not principal.has(Role.factory_operator):
        return set()
    return set(session.execute(select(FactoryOperator.factory_id).where(
        FactoryOperator.user_id == principal.user_id)).scalars())


def _require_operator(session: Session, principal: Principal, factory: Factory) -> None:
    if not rules.can_operate(principal, factory.id, _operated(session, principal)):
        raise Forbidden(f"only an operator of {factory.id} or an access officer may change it")


def resolve_sector(catalogue: Catalogue, sector: str) -> str:
    """A sector id or synonym ("healthcare") → the sector id. Raises: ValidationFailed."""
    index = SectorIndex(catalogue.sectors)
    resolved = sector if sector in index.ids else index.sector_id(sector)
    if resolved is None:
        raise ValidationFailed(f"unknown sector {sector!r}; the sectors are: "
                               f"{', '.join(sorted(index.ids))}")
    return resolved


def list_factories(session: Session, principal: Principal, *, kind: SiteKind | None = None,
                   country: str | None = None, sector: str | None = None,
                   after: str | None = None, limit: int = 50) -> list[Factory]:
    """Factories and antennas in id order (the catalogue is public to every signed-in person).

    `sector` is a sector id (resolve synonyms with `resolve_sector` first).
    """
    q = select(Factory).order_by(Factory.id)
    if after:
        q = q.where(Factory.id > after)
    if kind is not None:
        q = q.where(Factory.kind == kind)
    if country is not None:
        q = q.where(Factory.country == country)
    if sector is None:
        return list(session.execute(q.limit(limit)).scalars())
    # Sectors are a JSON list; the catalogue is small, so they are filtered here on every
    # backend alike rather than with dialect-specific JSON operators.
    return [f for f in session.execute(q).scalars() if sector in f.sectors][:limit]


def get_factory(session: Session, principal: Principal, factory_id: str) -> Factory:
    """Raises: NotFound."""
    return _factory(session, factory_id)


def _partitions_of(session: Session, factory_ids: Sequence[str]) -> dict[str, list[Partition]]:
    result: dict[str, list[Partition]] = {f: [] for f in factory_ids}
    if factory_ids:
        for p in session.execute(select(Partition).where(Partition.factory_id.in_(factory_ids))
                                 .order_by(Partition.factory_id, Partition.id)).scalars():
            result[p.factory_id].append(p)
    return result


def _summary_fields(f: Factory, parts: Sequence[Partition]) -> dict[str, Any]:
    return {"id": f.id, "name": f.name, "kind": f.kind, "country": f.country, "site": f.site,
            "supercomputer": f.supercomputer, "sectors": list(f.sectors),
            "linked_factory": f.linked_factory, "operational": f.operational,
            "gpus": sum(p.gpus_per_node * p.nodes for p in parts),
            "capacity_basis": sorted({CapacityBasis(p.capacity_basis) for p in parts})}


def factory_summaries(session: Session, factories: Sequence[Factory]) -> list[FactorySummary]:
    parts = _partitions_of(session, [f.id for f in factories])
    return [FactorySummary(**_summary_fields(f, parts[f.id])) for f in factories]


def partition_read(p: Partition) -> PartitionRead:
    return PartitionRead(id=p.id, gpu_model=p.gpu_model, gpu_memory_gb=p.gpu_memory_gb,
                         gpus_per_node=p.gpus_per_node, nodes=p.nodes,
                         gpus=p.gpus_per_node * p.nodes, capacity_basis=p.capacity_basis,
                         capacity_note=p.capacity_note, executor=p.executor,
                         updated_at=p.updated_at)


def factory_view(session: Session, principal: Principal, factory: Factory,
                 catalogue: Catalogue | None = None) -> FactoryRead:
    """A factory with its partitions, maintenance windows, sources and catalogue facts."""
    parts = _partitions_of(session, [factory.id])[factory.id]
    windows = list(session.execute(select(Maintenance).where(
        Maintenance.factory_id == factory.id).order_by(Maintenance.starts_at, Maintenance.id)
    ).scalars())
    operated = _operated(session, principal)
    operators = (sorted(session.execute(select(FactoryOperator.user_id).where(
        FactoryOperator.factory_id == factory.id)).scalars())
        if rules.can_see_operators(principal, factory.id, operated) else [])
    row = catalogue.row(factory.id) if catalogue is not None else None
    return FactoryRead(
        **_summary_fields(factory, parts), hosting_entity=factory.hosting_entity,
        system_status=factory.system_status, sector_focus=factory.sector_focus,
        languages=list(factory.languages), datasets=list(factory.datasets),
        sources=list(factory.sources), catalogue_version=factory.catalogue_version,
        selection_wave=row.selection_wave if row else None,
        selection_on=row.selection_on if row else None,
        accelerators=row.accelerators if row else None,
        partitions=[partition_read(p) for p in parts],
        maintenance=[MaintenanceRead.model_validate(w) for w in windows], operators=operators)


def gpu_spec_views(catalogue: Catalogue) -> list[GpuSpecRead]:
    return [GpuSpecRead(model=g.model, family=g.family, memory_gb=g.memory_gb,
                        bf16_dense_tflops=g.bf16_dense_tflops, source_url=str(g.source.url),
                        source_title=g.source.title, checked=g.checked, note=g.note)
            for g in catalogue.gpu_specs.gpus]


def operated_factories(session: Session, principal: Principal) -> list[Factory]:
    """The factories an access officer assigned to this factory operator, in id order."""
    operated = _operated(session, principal)
    if not operated:
        return []
    return list(session.execute(select(Factory).where(Factory.id.in_(operated))
                                .order_by(Factory.id)).scalars())


def require_operator(session: Session, principal: Principal, factory_id: str) -> Factory:
    """The factory, if the principal operates it (or is an access officer).

    Raises: NotFound, Forbidden.
    """
    factory = _factory(session, factory_id)
    if not rules.can_operate(principal, factory.id, _operated(session, principal)):
        raise Forbidden(f"only an operator of {factory.id} or an access officer may see its "
                        "operations")
    return factory


@dataclass(frozen=True)
class PartitionCalendar:
    """A partition's weeks: GPU-hours that exist, in maintenance, committed, free."""

    partition: PartitionRead
    weeks: list[WeekCapacity]


def capacity_calendar(session: Session, principal: Principal, factory_id: str, *,
                      start_on: date, weeks: int) -> list[PartitionCalendar]:
    """Per partition of the factory, `weeks` ISO weeks from the week holding `start_on`: what
    exists, what maintenance takes and what allocations committed (the capacity ledger).

    Operators of the factory and access officers. Raises: NotFound, Forbidden,
    ValidationFailed (weeks outside 1..104).
    """
    factory = require_operator(session, principal, factory_id)
    if not 1 <= weeks <= 104:
        raise ValidationFailed("weeks must be 1..104")
    first = week_of(start_on)
    last = first + timedelta(days=7 * weeks - 1)
    parts = _partitions_of(session, [factory.id])[factory.id]
    committed = ledger.committed(session, [(p.factory_id, p.id) for p in parts], first, last)
    windows = [MaintenanceWindow(factory_id=w.factory_id, partition_id=w.partition_id,
                                 starts_at=as_utc(w.starts_at), ends_at=as_utc(w.ends_at),
                                 gpus=w.gpus, reason=w.reason)
               for w in session.execute(select(Maintenance).where(
                   Maintenance.factory_id == factory.id)).scalars()]
    return [PartitionCalendar(partition_read(p), week_table(
        _profile(p), committed.get((p.factory_id, p.id), {}), windows, first, last,
        operational=factory.operational)) for p in parts]


# --- operators' changes ------------------------------------------------------------------------


def _partition(session: Session, factory: Factory, partition_id: str) -> Partition:
    partition = session.get(Partition, (factory.id, partition_id))
    if partition is None:
        raise NotFound(f"factory {factory.id!r} has no partition {partition_id!r}")
    return partition


def _capacity_snapshot(p: Partition) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v)
            for k, v in ((k, getattr(p, k)) for k in _CAPACITY)}


def set_capacity(session: Session, principal: Principal, factory_id: str, partition_id: str,
                 change: CapacityUpdate, *, gpu_specs: Sequence[GpuSpec],
                 now: datetime | None = None) -> Partition:
    """An operator of the factory (or an access officer) sets a partition's real capacity.

    Steps: load the factory and partition (404), authorise (403), validate every value
    (422, nothing changed), set them with basis `operator`, audit before and after.
    Raises: NotFound, Forbidden, ValidationFailed.
    """
    factory = _factory(session, factory_id)
    partition = _partition(session, factory, partition_id)
    _require_operator(session, principal, factory)
    problems = []
    if not 1 <= change.nodes <= MAX_NODES:
        problems.append(f"nodes must be 1..{MAX_NODES:,}")
    if not 1 <= change.gpus_per_node <= MAX_GPUS_PER_NODE:
        problems.append(f"gpus_per_node must be 1..{MAX_GPUS_PER_NODE}")
    model, memory = partition.gpu_model, partition.gpu_memory_gb
    if change.gpu_model is not None:
        spec = gpu_spec(gpu_specs, change.gpu_model)
        if spec is None:
            problems.append(f"unknown gpu_model {change.gpu_model!r}; known: "
                            f"{', '.join(s.model for s in gpu_specs)}")
        else:
            model, memory = spec.model, spec.memory_gb
    if change.gpu_memory_gb is not None:
        if not 1 <= change.gpu_memory_gb <= MAX_GPU_MEMORY_GB:
            problems.append(f"gpu_memory_gb must be 1..{MAX_GPU_MEMORY_GB}")
        memory = change.gpu_memory_gb
    if problems:
        raise ValidationFailed("; ".join(problems))
    before = _capacity_snapshot(partition)
    partition.gpu_model, partition.gpu_memory_gb = model, memory
    partition.nodes, partition.gpus_per_node = change.nodes, change.gpus_per_node
    partition.capacity_basis = CapacityBasis.operator
    partition.capacity_note = change.note or f"set by {principal.label}"
    partition.updated_by_id, partition.updated_at = principal.user_id, now or utcnow()
    session.flush()
    record(session, principal, "factory.capacity_set", subject_type="factory",
           subject_id=factory.number, reason=change.note,
           data={"factory": factory.id, "partition": partition.id, "before": before,
                 "after": _capacity_snapshot(partition)})
    return partition


def add_maintenance(session: Session, principal: Principal, factory_id: str,
                    body: MaintenanceCreate, *, now: datetime | None = None) -> Maintenance:
    """An operator announces a maintenance window on a partition or the whole factory.

    Raises: NotFound, Forbidden, ValidationFailed (ends before it starts, more GPUs than the
    partition has, a factory without partitions).
    """
    factory = _factory(session, factory_id)
    _require_operator(session, principal, factory)
    starts, ends = as_utc(body.starts_at), as_utc(body.ends_at)
    if ends <= starts:
        raise ValidationFailed("ends_at must be after starts_at")
    parts = _partitions_of(session, [factory.id])[factory.id]
    if body.partition_id is not None:
        chosen = [p for p in parts if p.id == body.partition_id]
        if not chosen:
            raise ValidationFailed(f"factory {factory.id!r} has no partition "
                                   f"{body.partition_id!r}; it has: "
                                   f"{', '.join(p.id for p in parts) or 'none'}")
        parts = chosen
    if not parts:
        raise ValidationFailed(f"{factory.id!r} has no partitions to maintain (antennas use "
                               "their linked factory's compute)")
    available = sum(p.gpus_per_node * p.nodes for p in parts)
    if body.gpus is not None and body.gpus > available:
        where = f"partition {parts[0].id!r} has" if body.partition_id else "the factory has"
        raise ValidationFailed(f"gpus {body.gpus:,} is more than the {available:,} GPUs "
                               f"{where}")
    window = Maintenance(factory_id=factory.id, partition_id=body.partition_id,
                         starts_at=starts, ends_at=ends, gpus=body.gpus, reason=body.reason,
                         created_by_id=principal.user_id, created_at=now or utcnow())
    session.add(window)
    session.flush()
    record(session, principal, "factory.maintenance_added", subject_type="factory",
           subject_id=factory.number, reason=body.reason,
           data={"factory": factory.id, "window_id": window.id,
                 "partition": body.partition_id, "starts_at": starts.isoformat(),
                 "ends_at": ends.isoformat(), "gpus": body.gpus})
    return window


def list_maintenance(session: Session, principal: Principal, factory_id: str
                     ) -> list[Maintenance]:
    """A factory's maintenance windows (public, like the catalogue). Raises: NotFound."""
    factory = _factory(session, factory_id)
    return list(session.execute(select(Maintenance).where(
        Maintenance.factory_id == factory.id).order_by(Maintenance.starts_at, Maintenance.id)
    ).scalars())


def remove_maintenance(session: Session, principal: Principal, factory_id: str,
                       window_id: int) -> None:
    """Withdraw a maintenance window. Raises: NotFound, Forbidden."""
    factory = _factory(session, factory_id)
    window = session.get(Maintenance, window_id)
    if window is None or window.factory_id != factory.id:
        raise NotFound(f"factory {factory.id!r} has no maintenance window {window_id}")
    _require_operator(session, principal, factory)
    record(session, principal, "factory.maintenance_removed", subject_type="factory",
           subject_id=factory.number,
           data={"factory": factory.id, "window_id": window.id,
                 "partition": window.partition_id, "starts_at": window.starts_at.isoformat(),
                 "ends_at": window.ends_at.isoformat(), "gpus": window.gpus})
    session.delete(window)
    session.flush()


def assign_operator(session: Session, principal: Principal, factory_id: str, email: str
                    ) -> FactoryOperator:
    """An access officer makes a person with the factory-operator role an operator of this
    factory. Raises: NotFound, Forbidden, ValidationFailed (no such role), Conflict (already)."""
    factory = _factory(session, factory_id)
    if not rules.can_assign_operators(principal):
        raise Forbidden("only access officers assign factory operators")
    user = session.execute(select(User).where(User.email == email.strip().lower())).scalar()
    if user is None:
        raise NotFound(f"no user with e-mail {email}")
    has_role = session.execute(select(func.count()).select_from(UserRole).where(
        UserRole.user_id == user.id, UserRole.role == Role.factory_operator)).scalar()
    if not has_role:
        raise ValidationFailed(f"{user.email} does not have the factory-operator role")
    if session.get(FactoryOperator, (user.id, factory.id)) is not None:
        raise Conflict(f"{user.email} already operates {factory.id}")
    link = FactoryOperator(user_id=user.id, factory_id=factory.id,
                           created_by_id=principal.user_id)
    session.add(link)
    session.flush()
    record(session, principal, "factory.operator_assigned", subject_type="factory",
           subject_id=factory.number, data={"factory": factory.id, "user_id": user.id,
                                            "email": user.email})
    return link
