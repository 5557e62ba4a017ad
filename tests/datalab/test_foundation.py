"""The catalogue's service functions other capabilities build on: datasets by slug, search,
the grant that lets a job's organisation read, and the read log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fabriek.datalab import service
from fabriek.datalab.enums import AccessLevel, ReadAction
from fabriek.datalab.models import Dataset, Grant, ReadEvent
from fabriek.datalab.schemas import DatasetCreate
from fabriek.errors import BadRequest, Conflict, Forbidden, NotFound
from fabriek.identity.enums import Role
from fabriek.identity.principal import SYSTEM, Principal
from fabriek.kit.clock import utcnow
from tests.compute.helpers import allocation
from tests.datalab.conftest import dataset_body

pytestmark = pytest.mark.integration


def _principal(person, *roles, memberships=None) -> Principal:
    return Principal(user_id=person.user_id, email=person.email, roles=frozenset(roles),
                     memberships=memberships or {})


def test_a_steward_publishes_and_anyone_finds_it(database, datalab, steward):
    me = _principal(steward, Role.data_steward)
    with database.unit_of_work() as s:
        ds = service.create_dataset(s, me, DatasetCreate(**dataset_body()), cfg=datalab)
        assert service.steward_ids(s, ds.id) == [steward.user_id]
    with database.unit_of_work(readonly=True) as s:
        assert service.get_dataset(s, None, "icu-vitals").title["nl"].startswith("Vitale")
        for q in ("vital", "VITALE functies", "gezondheid", "icu-vitals"):
            assert [d.slug for d in service.list_datasets(s, q=q)] == ["icu-vitals"], q
        assert service.list_datasets(s, q="genome") == []
        assert [d.slug for d in service.list_datasets(s, theme="HEAL", data_space="health",
                                                      access_level=AccessLevel.approval)]
        assert service.list_datasets(s, theme="TRAN") == []
        with pytest.raises(NotFound):
            service.get_dataset(s, None, "no-such")


def test_only_data_stewards_publish_and_vocabulary_is_checked(database, datalab, make_person):
    applicant = _principal(make_person("a@x.eu"), Role.applicant)
    steward = _principal(make_person("s@x.eu", Role.data_steward), Role.data_steward)
    with database.unit_of_work() as s:
        with pytest.raises(Forbidden):
            service.create_dataset(s, applicant, DatasetCreate(**dataset_body()), cfg=datalab)
        for bad, message in ((dict(data_space="space"), "unknown data space"),
                             (dict(licence="WTFPL"), "unknown licence"),
                             (dict(themes=["HEALTH"]), "unknown themes"),
                             (dict(factory_id="atlantis"), "unknown factory")):
            with pytest.raises(BadRequest, match=message):
                service.create_dataset(s, steward, DatasetCreate(**dataset_body(**bad)),
                                       cfg=datalab)
        service.create_dataset(s, steward, DatasetCreate(**dataset_body()), cfg=datalab)
        with pytest.raises(Conflict):
            service.create_dataset(s, steward, DatasetCreate(**dataset_body()), cfg=datalab)
    with database.unit_of_work(readonly=True) as s:
        assert s.query(Dataset).count() == 1


def test_valid_grant_for_an_allocation_and_the_read_log(database, datalab, steward, app_client,
                                                        officer, make_person):
    applicant = make_person("lab@lumen.example")
    alloc_id = allocation(app_client, officer, applicant)
    with database.unit_of_work() as s:
        ds = service.create_dataset(s, _principal(steward, Role.data_steward),
                                    DatasetCreate(**dataset_body()), cfg=datalab)
        project = service.project_of_allocation(s, alloc_id)
        org = project.organisation_id
        assert service.valid_grant_for(s, ds, org, alloc_id) is None
        now = utcnow()
        s.add(Grant(dataset_id=ds.id, organisation_id=org, proposal_id=project.proposal_id,
                    allocation_id=None, purpose="fine-tune a triage model",
                    expires_at=now + timedelta(days=1), created_at=now))
        s.flush()
        grant = service.valid_grant_for(s, ds, org, alloc_id)
        assert grant is not None
        assert service.valid_grant_for(s, ds, org + 1, alloc_id) is None  # not their project
        assert service.valid_grant_for(s, ds, org, alloc_id, now + timedelta(days=2)) is None
        member = Principal(user_id=applicant.user_id, email=applicant.email,
                           roles=frozenset({Role.applicant}), memberships={org: "member"})
        decision = service.require_read(s, member, ds)
        assert decision.rule == "datalab.grant"
        service.record_read(s, dataset=ds, principal=SYSTEM, action=ReadAction.stage,
                            decision=service.decide_read(s, member, ds, project=project),
                            job_id=None)
    with database.unit_of_work(readonly=True) as s:
        event = s.query(ReadEvent).one()
        assert (event.who, event.action, event.organisation_id, event.purpose, event.rule) == (
            "system", ReadAction.stage, org, "fine-tune a triage model", "datalab.grant")


def test_the_worker_loop_records_expired_grants(database, datalab, steward, app_client,
                                                officer, make_person):
    from fabriek.compute.reconciler import Reconciler
    from fabriek.datalab.tasks import sweep_expired_grants

    applicant = make_person("lab@lumen.example")
    alloc_id = allocation(app_client, officer, applicant)
    with database.unit_of_work() as s:
        ds = service.create_dataset(s, _principal(steward, Role.data_steward),
                                    DatasetCreate(**dataset_body()), cfg=datalab)
        project = service.project_of_allocation(s, alloc_id)
        past = utcnow() - timedelta(minutes=1)
        s.add(Grant(dataset_id=ds.id, organisation_id=project.organisation_id,
                    proposal_id=project.proposal_id, purpose="p", expires_at=past,
                    created_at=past - timedelta(days=1)))
    reconciler = Reconciler(database, app_client.app.state.executors,
                            app_client.app.state.access)
    assert reconciler.run_once(utcnow()).grants_expired == 1
    assert sweep_expired_grants(database, force=True) == 0  # once only
    with database.unit_of_work(readonly=True) as s:
        assert s.query(Grant).one().expired_at is not None
