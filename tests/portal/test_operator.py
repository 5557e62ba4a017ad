"""The factory operator's pages: their factories, partitions, the capacity calendar,
maintenance windows and the jobs on the factory; operators of other factories are refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from fabriek.db.session import Database
from fabriek.federation.capacity import week_of
from fabriek.federation.models import Maintenance, Partition
from fabriek.identity.enums import Role
from fabriek.kit.clock import utcnow
from tests.api import helpers as api
from tests.compute.helpers import job
from tests.portal.helpers import post_form
from tests.portal.staff_helpers import operate, page_text

pytestmark = pytest.mark.integration

NNBSP = "\u202f"  # the thin space the pages group digits with


@pytest.fixture
def operator(anonymous, make_person, officer):  # type: ignore[no-untyped-def]
    person = make_person("ops@local-factory.example", Role.factory_operator)
    operate(anonymous, officer, person, "local")
    return person


@pytest.fixture
def ops(browser_for, operator):  # type: ignore[no-untyped-def]
    return browser_for(operator)


def _windows(database: Database) -> list[Maintenance]:
    with database.session(readonly=True) as s:
        rows = list(s.execute(select(Maintenance)).scalars())
        for w in rows:
            s.expunge(w)
        return rows


def _week_row(html: str, partition: str, week: str) -> list[str]:
    """The figures of one week in a partition's calendar table."""
    table = html.split(f"Partition {partition}:", 1)[1].split("</table>", 1)[0]
    row = table.split(f'<th scope="row">{week}</th>', 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r'<td class="num">(.*?)</td>', row, flags=re.S)]


def test_an_operator_sees_their_factories_and_its_partitions(ops) -> None:
    index = ops.get("/operator")
    assert index.status_code == 200
    assert 'href="/operator/factories/local"' in index.text
    assert "LUMI" not in page_text(index)  # only what they operate
    page = ops.get("/operator/factories/local")
    assert page.status_code == 200
    text = page_text(page)
    for expected in ("Local AI Factory (embedded)", "H100-SXM5-80GB", "local executor",
                     "Capacity calendar", "No maintenance announced.",
                     "No job is running or queued here."):
        assert expected in text, expected
    assert page.text.count("<h1>") == 1
    # Twelve weeks from this one by default, each with a bar and its text equivalent.
    assert page.text.count('<svg class="bar"') == 12
    assert 'role="img" aria-label="0 % committed, 0 % in maintenance, 100 % free"' in page.text


def test_the_calendar_shows_what_allocations_committed(anonymous, ops, make_person) -> None:
    applicant = make_person("anna@lumen.example")
    org_id = api.org(anonymous, applicant)
    api.accepted(anonymous, applicant, org_id)  # Playground: 2,000 GPU-hours over two months
    this_week = week_of(utcnow().date()).isoformat()
    exist, maintenance, committed, free = _week_row(
        ops.get("/operator/factories/local").text, "gpu", this_week)
    assert exist == f"43{NNBSP}008" and maintenance == "0"  # 256 GPUs × 168 h
    assert 0 < float(committed.replace(NNBSP, "")) < 2000
    assert float(free.replace(NNBSP, "")) == pytest.approx(
        43_008 - float(committed.replace(NNBSP, "")), abs=1)
    later = ops.get(f"/operator/factories/local?start={utcnow().date() + timedelta(days=70)}"
                    "&weeks=4")
    assert later.text.count('<svg class="bar"') == 4
    for bad in ("?weeks=0", "?weeks=500", "?start=soon"):
        assert ops.get(f"/operator/factories/local{bad}").status_code == 400, bad


def test_maintenance_windows_are_announced_and_withdrawn(ops, database: Database) -> None:
    monday = week_of(utcnow().date()) + timedelta(days=7)
    form = {"partition_id": "gpu", "starts_at": f"{monday}T08:00", "ends_at":
            f"{monday + timedelta(days=1)}T08:00", "gpus": "", "reason": "Firmware upgrade"}
    r = post_form(ops, "/operator/factories/local/maintenance", form)
    assert r.status_code == 303, page_text(r)
    assert r.headers["location"] == "/operator/factories/local?notice=maintenance-added"
    [window] = _windows(database)
    assert (window.partition_id, window.gpus, window.reason) == ("gpu", None, "Firmware upgrade")
    page = ops.get("/operator/factories/local")
    assert "Firmware upgrade" in page_text(page)
    # 24 hours of all 256 GPUs in next week's row of the calendar.
    assert _week_row(page.text, "gpu", monday.isoformat())[1] == f"6{NNBSP}144"
    assert api.audit_actions(database, "factory.maintenance_added") == 1

    r = post_form(ops, f"/operator/factories/local/maintenance/{window.id}/remove")
    assert r.status_code == 303 and _windows(database) == []
    assert api.audit_actions(database, "factory.maintenance_removed") == 1
    r = post_form(ops, f"/operator/factories/local/maintenance/{window.id}/remove")
    assert r.status_code == 404 and "no maintenance window" in page_text(r)


@pytest.mark.parametrize(("change", "status", "message"), [
    ({"ends_at": "2030-01-01T07:00"}, 400, "ends_at must be after starts_at"),
    ({"starts_at": "next week"}, 400, "YYYY-MM-DD HH:MM (UTC)"),
    ({"gpus": "300"}, 422, "more than the 256 GPUs partition 'gpu' has"),
    ({"gpus": "some"}, 400, "enter a whole number"),
    ({"partition_id": "cpu"}, 422, "has no partition 'cpu'"),
    ({"reason": ""}, 400, "at least 1 character"),
])
def test_bad_maintenance_is_explained_and_changes_nothing(ops, database: Database, change,
                                                          status, message) -> None:
    form = {"partition_id": "gpu", "starts_at": "2030-01-01T08:00",
            "ends_at": "2030-01-02T08:00", "gpus": "", "reason": "Cooling work"}
    before = api.row_counts(database)
    r = post_form(ops, "/operator/factories/local/maintenance", {**form, **change})
    assert r.status_code == status, page_text(r)
    assert message in page_text(r) and 'role="alert"' in r.text
    assert api.row_counts(database) == before
    if change.get("reason") != "":
        assert "Cooling work" in r.text  # kept for the next try


def test_setting_a_partitions_capacity(ops, database: Database) -> None:
    r = post_form(ops, "/operator/factories/local/partitions/gpu/capacity",
                  {"nodes": "2", "gpus_per_node": "8", "note": "after the upgrade"})
    assert r.status_code == 303, page_text(r)
    with database.session(readonly=True) as s:
        part = s.get(Partition, ("local", "gpu"))
        assert part is not None and (part.nodes, part.gpus_per_node) == (2, 8)
    before = api.row_counts(database)
    r = post_form(ops, "/operator/factories/local/partitions/gpu/capacity",
                  {"nodes": "0", "gpus_per_node": "8"})
    assert r.status_code == 400 and "greater than or equal to 1" in page_text(r)
    assert api.row_counts(database) == before


def test_jobs_on_the_factory_show_no_more_than_operators_need(anonymous, ops, make_person
                                                              ) -> None:
    applicant = make_person("anna@lumen.example")
    org_id = api.org(anonymous, applicant)
    allocation_id = api.accepted(anonymous, applicant, org_id)["allocation_ids"][0]
    r = anonymous.post("/api/v1/jobs", headers=applicant.headers, json=job(
        allocation_id, name="vision-finetune", gpus=2,
        command=["python3", "-c", "print('secret-sauce')"]))
    assert r.status_code == 201, r.text
    text = page_text(ops.get("/operator/factories/local"))
    for expected in ("vision-finetune", "Lumen Vision B.V.", "waiting to be handed over",
                     "entry"):
        assert expected in text, expected
    assert "secret-sauce" not in text and "anna@lumen.example" not in text


def test_others_are_refused(anonymous, browser_for, make_person, officer,
                            database: Database) -> None:
    elsewhere = make_person("ops@bsc.example", Role.factory_operator)
    operate(anonymous, officer, elsewhere, "bsc")
    applicant = make_person("anna@lumen.example")
    other, plain = browser_for(elsewhere), browser_for(applicant)
    assert 'href="/operator/factories/bsc"' in other.get("/operator").text
    assert other.get("/operator/factories/local").status_code == 403
    assert plain.get("/operator").status_code == 403
    assert plain.get("/operator/factories/local").status_code == 403
    assert other.get("/operator/factories/nowhere").status_code == 404
    before = api.row_counts(database)
    form = {"partition_id": "", "starts_at": "2030-01-01T08:00", "ends_at": "2030-01-02T08:00",
            "reason": "Not mine"}
    for client in (other, plain):
        r = post_form(client, "/operator/factories/local/maintenance", form)
        assert r.status_code == 403
        r = post_form(client, "/operator/factories/local/partitions/gpu/capacity",
                      {"nodes": "1", "gpus_per_node": "1"})
        assert r.status_code == 403
    assert api.row_counts(database) == before
    # An access officer may look at any factory (and change it, as through the API).
    assert browser_for(officer).get("/operator/factories/local").status_code == 200
    assert anonymous.get("/operator", follow_redirects=False).status_code == 303
