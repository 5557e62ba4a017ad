"""The catalogue seed, the federation read back, and operators' changes, on a real database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from fabriek.audit.models import AuditEvent
from fabriek.db.session import Database
from fabriek.errors import Conflict, Forbidden, NotFound, ValidationFailed
from fabriek.federation import service
from fabriek.federation.catalogue import Catalogue, load_catalogue
from fabriek.federation.domain import CapacityBasis, ExecutorKind, SiteKind
from fabriek.federation.models import Factory, FactoryOperator, Maintenance, Partition
from fabriek.federation.schemas import CapacityUpdate, MaintenanceCreate
from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.principal import SYSTEM, Principal

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _unseeded(database: Database) -> None:
    """These tests seed the catalogue themselves: start from an empty federation."""
    with database.unit_of_work() as s:
        s.execute(delete(Partition))
        s.execute(delete(Factory))


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def seeded(database: Database, catalogue: Catalogue) -> Database:
    with database.unit_of_work() as s:
        service.sync_catalogue(s, catalogue)
    return database


def _person(db: Database, email: str, *roles: Role) -> Principal:
    with db.unit_of_work() as s:
        user = identity.create_user(s, SYSTEM, email=email, roles=list(roles))
        return identity.load_principal(s, user)


def _operator_of(db: Database, factory_id: str, email: str) -> Principal:
    who = _person(db, email, Role.factory_operator)
    with db.unit_of_work() as s:
        s.add(FactoryOperator(user_id=who.user_id, factory_id=factory_id))
    return who


def _partition(db: Database, factory_id: str, partition_id: str) -> Partition:
    with db.unit_of_work(readonly=True) as s:
        p = s.get(Partition, (factory_id, partition_id))
        assert p is not None
        return p


def _count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def _factory_events(db: Database) -> list[str]:
    with db.unit_of_work(readonly=True) as s:
        return list(s.execute(select(AuditEvent.action).where(
            AuditEvent.action.like("factory.%")).order_by(AuditEvent.seq)).scalars())


def _newer(catalogue: Catalogue, version: str, **partition_changes) -> Catalogue:  # type: ignore[no-untyped-def]
    """The same catalogue under another version, with some partitions' figures changed."""
    factories = tuple(
        replace(f, name=f.name + " (renamed)" if f.id == "jaif" else f.name,
                partitions=tuple(replace(p, **partition_changes.get(f"{p.factory_id}/{p.id}", {}))
                                 for p in f.partitions))
        for f in catalogue.federation.factories)
    return replace(catalogue, federation=replace(catalogue.federation, factories=factories,
                                                 by_id={}),
                   versions={**catalogue.versions, "catalogue": version})


def test_sync_seeds_every_factory_and_is_idempotent(database, catalogue):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        first = service.sync_catalogue(s, catalogue)
    assert len(first.inserted_factories) == 33  # 19 factories, 13 antennas, local
    assert len(first.inserted_partitions) == 20
    with database.unit_of_work() as s:
        second = service.sync_catalogue(s, catalogue)
    assert (second.inserted_factories, second.inserted_partitions,
            second.refreshed_factories, second.refreshed_partitions) == ([], [], [], [])
    assert (_count(database, Factory), _count(database, Partition)) == (33, 20)
    with database.unit_of_work(readonly=True) as s:
        numbers = sorted(s.execute(select(Factory.number)).scalars())
        lux = s.get(Factory, "luxembourg")
        assert (lux.country, lux.kind, lux.sectors[:2], lux.sources[0]) == (
            "LU", SiteKind.factory, ["finance", "health"],
            "https://www.datacenterdynamics.com/en/news/eurohpc-ju-names-seven-ai-factory-"
            "hosting-sites/")
    assert numbers == list(range(1, 34))


def test_load_federation_matches_the_catalogue(seeded, catalogue):  # type: ignore[no-untyped-def]
    with seeded.unit_of_work(readonly=True) as s:
        fed = service.load_federation(s)
    assert {f.id for f in fed.factories} == {f.id for f in catalogue.federation.factories}
    assert sorted(p.key for p in fed.partitions()) == sorted(
        p.key for p in catalogue.federation.partitions())
    assert fed.by_id["antenna-cy"].linked_factory == "pharos"
    assert fed.partition("local", "gpu").executor is ExecutorKind.local
    assert fed.by_id["lumi"] == catalogue.federation.by_id["lumi"]


def test_newer_catalogue_refreshes_but_never_overwrites_operator_capacity(seeded, catalogue):  # type: ignore[no-untyped-def]
    officer = _person(seeded, "officer@eurohpc.example", Role.access_officer)
    with seeded.unit_of_work() as s:
        service.set_capacity(s, officer, "it4lia", "ai",
                             CapacityUpdate(nodes=700, gpus_per_node=4, note="measured"),
                             gpu_specs=catalogue.federation.gpu_specs)
    newer = _newer(catalogue, "2027-01-01+00000000",
                   **{"it4lia/ai": {"nodes": 9}, "gaia/ai": {"nodes": 99}})
    with seeded.unit_of_work() as s:
        report = service.sync_catalogue(s, newer)
    assert report.kept_operator_capacity == ["it4lia/ai"]
    assert report.refreshed_partitions == ["gaia/ai"]
    assert report.refreshed_factories == ["jaif"]
    it4lia = _partition(seeded, "it4lia", "ai")
    assert (it4lia.nodes, it4lia.capacity_basis, it4lia.capacity_note) == (
        700, CapacityBasis.operator, "measured")
    assert _partition(seeded, "gaia", "ai").nodes == 99
    # An older release (a rolling upgrade) does not undo what the newer one wrote.
    with seeded.unit_of_work() as s:
        older = service.sync_catalogue(s, catalogue)
    assert (older.refreshed_factories, older.refreshed_partitions) == ([], [])
    assert _partition(seeded, "gaia", "ai").nodes == 99


def test_set_capacity_by_the_factory_operator_is_audited(seeded, catalogue):  # type: ignore[no-untyped-def]
    ops = _operator_of(seeded, "jaif", "ops@fz-juelich.example")
    with seeded.unit_of_work() as s:
        p = service.set_capacity(s, ops, "jaif", "booster",
                                 CapacityUpdate(nodes=5900, gpus_per_node=4,
                                                gpu_model="gh200", note="JUPITER booster"),
                                 gpu_specs=catalogue.federation.gpu_specs)
        assert (p.gpu_model, p.gpu_memory_gb, p.updated_by_id) == (
            "GH200-96GB", 96, ops.user_id)
    with seeded.unit_of_work(readonly=True) as s:
        [event] = s.execute(select(AuditEvent).where(
            AuditEvent.action == "factory.capacity_set")).scalars()
        number = s.get(Factory, "jaif").number
    assert (event.subject_type, event.subject_id, event.actor, event.reason) == (
        "factory", number, "ops@fz-juelich.example", "JUPITER booster")
    assert event.data["before"]["nodes"] == 6000 and event.data["after"]["nodes"] == 5900
    assert (event.data["before"]["capacity_basis"], event.data["after"]["capacity_basis"]) == (
        "estimate", "operator")


def test_set_capacity_by_another_factorys_operator_is_refused(seeded, catalogue):  # type: ignore[no-untyped-def]
    other = _operator_of(seeded, "bsc", "ops@bsc.example")
    applicant = _person(seeded, "eva@tulpen.example.eu", Role.applicant)
    before = _partition(seeded, "jaif", "booster")
    for who in (other, applicant):
        with pytest.raises(Forbidden), seeded.unit_of_work() as s:
            service.set_capacity(s, who, "jaif", "booster",
                                 CapacityUpdate(nodes=1, gpus_per_node=1),
                                 gpu_specs=catalogue.federation.gpu_specs)
    with pytest.raises(NotFound), seeded.unit_of_work() as s:
        service.set_capacity(s, other, "nowhere", "booster",
                             CapacityUpdate(nodes=1, gpus_per_node=1),
                             gpu_specs=catalogue.federation.gpu_specs)
    after = _partition(seeded, "jaif", "booster")
    assert (after.nodes, after.capacity_basis, after.updated_at) == (
        before.nodes, before.capacity_basis, before.updated_at)
    assert _factory_events(seeded) == []


@pytest.mark.parametrize(("change", "message"), [
    (CapacityUpdate.model_construct(nodes=0, gpus_per_node=4, note=""), "nodes must be"),
    (CapacityUpdate.model_construct(nodes=4, gpus_per_node=65, note=""), "gpus_per_node"),
    (CapacityUpdate(nodes=4, gpus_per_node=4, gpu_model="TPU-v5"), "unknown gpu_model"),
    (CapacityUpdate.model_construct(nodes=4, gpus_per_node=4, gpu_memory_gb=0, note="",
                                    gpu_model=None), "gpu_memory_gb"),
])
def test_set_capacity_bad_values_change_nothing(seeded, catalogue, change, message):  # type: ignore[no-untyped-def]
    ops = _operator_of(seeded, "jaif", "ops@fz-juelich.example")
    before = _partition(seeded, "jaif", "booster")
    with pytest.raises(ValidationFailed, match=message), seeded.unit_of_work() as s:
        service.set_capacity(s, ops, "jaif", "booster", change,
                             gpu_specs=catalogue.federation.gpu_specs)
    after = _partition(seeded, "jaif", "booster")
    assert (after.nodes, after.gpus_per_node, after.gpu_model, after.capacity_basis) == (
        before.nodes, before.gpus_per_node, before.gpu_model, before.capacity_basis)
    assert _factory_events(seeded) == []


def _window(**over) -> MaintenanceCreate:  # type: ignore[no-untyped-def]
    body = {"partition_id": "booster", "starts_at": T0, "ends_at": T0 + timedelta(hours=10),
            "gpus": 400, "reason": "firmware update", **over}
    return MaintenanceCreate.model_construct(**body)


def test_maintenance_windows_add_list_remove(seeded):  # type: ignore[no-untyped-def]
    ops = _operator_of(seeded, "jaif", "ops@fz-juelich.example")
    with seeded.unit_of_work() as s:
        w = service.add_maintenance(s, ops, "jaif", _window())
        whole = service.add_maintenance(s, ops, "jaif", _window(partition_id=None, gpus=None))
        ids = (w.id, whole.id)
    with seeded.unit_of_work(readonly=True) as s:
        listed = service.list_maintenance(s, SYSTEM, "jaif")
        fed = service.load_federation(s)
    assert [(m.id, m.partition_id, m.gpus) for m in listed] == [
        (ids[0], "booster", 400), (ids[1], None, None)]
    assert [(m.factory_id, m.partition_id, m.starts_at) for m in fed.maintenance] == [
        ("jaif", "booster", T0), ("jaif", None, T0)]
    with seeded.unit_of_work() as s:
        service.remove_maintenance(s, ops, "jaif", ids[0])
    assert _count(seeded, Maintenance) == 1
    assert _factory_events(seeded) == ["factory.maintenance_added", "factory.maintenance_added",
                       "factory.maintenance_removed"]


@pytest.mark.parametrize(("factory", "over", "error", "message"), [
    ("jaif", {"ends_at": T0}, ValidationFailed, "ends_at must be after"),
    ("jaif", {"gpus": 24_001}, ValidationFailed, "more than the 24,000 GPUs"),
    ("jaif", {"partition_id": "cpu"}, ValidationFailed, "has no partition 'cpu'"),
    ("antenna-be", {"partition_id": None}, ValidationFailed, "has no partitions"),
    ("bsc", {}, Forbidden, "only an operator of bsc"),
    ("atlantis", {}, NotFound, "factory 'atlantis' not found"),
])
def test_maintenance_window_validation(seeded, factory, over, error, message):  # type: ignore[no-untyped-def]
    ops = _operator_of(seeded, "jaif", "ops@fz-juelich.example")
    with seeded.unit_of_work() as s:  # the antenna case needs an operator of the antenna
        s.add(FactoryOperator(user_id=ops.user_id, factory_id="antenna-be"))
    with pytest.raises(error, match=message), seeded.unit_of_work() as s:
        service.add_maintenance(s, ops, factory, _window(**over))
    assert _count(seeded, Maintenance) == 0


def test_remove_maintenance_of_another_factory_is_refused(seeded):  # type: ignore[no-untyped-def]
    ops = _operator_of(seeded, "jaif", "ops@fz-juelich.example")
    other = _operator_of(seeded, "bsc", "ops@bsc.example")
    with seeded.unit_of_work() as s:
        window_id = service.add_maintenance(s, ops, "jaif", _window()).id
    with pytest.raises(Forbidden), seeded.unit_of_work() as s:
        service.remove_maintenance(s, other, "jaif", window_id)
    with pytest.raises(NotFound), seeded.unit_of_work() as s:
        service.remove_maintenance(s, other, "bsc", window_id)  # not bsc's window
    assert _count(seeded, Maintenance) == 1


def test_assign_operator_rules(seeded):  # type: ignore[no-untyped-def]
    officer = _person(seeded, "officer@eurohpc.example", Role.access_officer)
    ops = _person(seeded, "ops@fz-juelich.example", Role.factory_operator)
    applicant = _person(seeded, "eva@tulpen.example.eu", Role.applicant)
    with pytest.raises(Forbidden), seeded.unit_of_work() as s:
        service.assign_operator(s, ops, "jaif", ops.email)  # operators do not appoint
    with pytest.raises(ValidationFailed, match="factory-operator role"), \
            seeded.unit_of_work() as s:
        service.assign_operator(s, officer, "jaif", applicant.email)
    with seeded.unit_of_work() as s:
        service.assign_operator(s, officer, "jaif", "OPS@fz-juelich.example")
    with pytest.raises(Conflict), seeded.unit_of_work() as s:
        service.assign_operator(s, officer, "jaif", ops.email)
    assert _count(seeded, FactoryOperator) == 1
    with seeded.unit_of_work(readonly=True) as s:
        [event] = s.execute(select(AuditEvent).where(
            AuditEvent.action.like("factory.%"))).scalars()
    assert (event.action, event.data["user_id"]) == ("factory.operator_assigned", ops.user_id)


def test_list_factories_filters(seeded, catalogue):  # type: ignore[no-untyped-def]
    with seeded.unit_of_work(readonly=True) as s:
        def ids(**kw):  # type: ignore[no-untyped-def]
            return [f.id for f in service.list_factories(s, SYSTEM, **kw)]

        assert len(ids(limit=200)) == 33
        assert ids(kind=SiteKind.antenna, limit=3) == ["antenna-be", "antenna-ch", "antenna-cy"]
        assert ids(country="ES") == ["1healthai", "bsc"]
        assert ids(sector=service.resolve_sector(catalogue, "healthcare"), country="ES") == [
            "1healthai", "bsc"]
        assert ids(sector="space", after="gaia") == ["luxembourg", "piast"]
    with pytest.raises(ValidationFailed, match="unknown sector 'knitting'"):
        service.resolve_sector(catalogue, "knitting")


def test_federation_for_executors_uses_operator_figures(seeded, catalogue):  # type: ignore[no-untyped-def]
    officer = _person(seeded, "officer@eurohpc.example", Role.access_officer)
    with seeded.unit_of_work(readonly=True) as s:
        assert service.federation_for_executors(s, catalogue).partition(
            "local", "gpu").gpus == 4
    with seeded.unit_of_work() as s:
        service.set_capacity(s, officer, "local", "gpu", CapacityUpdate(nodes=1, gpus_per_node=8),
                             gpu_specs=catalogue.federation.gpu_specs)
    with seeded.unit_of_work(readonly=True) as s:
        assert service.federation_for_executors(s, catalogue).partition(
            "local", "gpu").gpus == 8


def test_federation_for_executors_falls_back_to_an_unseeded_catalogue(database, catalogue):  # type: ignore[no-untyped-def]
    with database.unit_of_work(readonly=True) as s:
        assert service.federation_for_executors(s, catalogue) is catalogue.federation
