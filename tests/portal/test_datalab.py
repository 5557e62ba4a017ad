"""The data labs' pages: the catalogue (search, filters), a dataset's page, files fetched through
the portal (logged), the request form, my requests and grants on /me, and the steward's queue
(decide with reasons, revoke, read log). Others' requests stay invisible; roles are enforced;
bad input is explained and changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fabriek.datalab.enums import RequestState
from fabriek.datalab.models import AccessRequest, Grant, ReadEvent
from fabriek.datalab.service import DatalabConfig
from fabriek.db.session import Database
from fabriek.identity.enums import Role
from tests.compute.helpers import allocation
from tests.datalab import staging_helpers as sh
from tests.portal.helpers import post_form, text_of

pytestmark = pytest.mark.integration


@pytest.fixture
def cfg(portal_app) -> DatalabConfig:  # type: ignore[no-untyped-def]
    return portal_app.state.datalab


@pytest.fixture
def steward(make_person):  # type: ignore[no-untyped-def]
    return make_person("steward@umc.example", Role.data_steward)


@pytest.fixture
def catalogue(database, cfg, steward) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Three datasets in two data spaces at three access levels."""
    return {
        "icu-vitals": sh.publish(database, cfg, steward, "icu-vitals", level="approval"),
        "bus-delays": sh.publish(
            database, cfg, steward, "bus-delays", level="open", data_space="mobility",
            themes=["TRAN"], licence="CC-BY-4.0", keywords=["public transport", "delays"],
            title={"en": "Bus delays in Utrecht", "nl": "Busvertragingen in Utrecht"},
            description={"en": "Minute-level delays of regional buses."},
            file_name="delays.csv", data=b"line,delay\n12,3\n"),
        "ehds-cohort": sh.publish(
            database, cfg, steward, "ehds-cohort", level="permit",
            title={"en": "Diabetes cohort (EHDS permit)"},
            description={"en": "Pseudonymised records of a diabetes cohort."},
            keywords=["diabetes"], file_name="cohort.csv", data=b"id,hba1c\n1,48\n"),
    }


def _count(database: Database, model: Any) -> int:
    with database.session(readonly=True) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _request_form(project: int | str, **over: str) -> dict[str, Any]:
    return {"project": str(project), "purpose": "Train a sepsis early-warning model.",
            "expires_on": (date.today() + timedelta(days=30)).isoformat(),
            "permit_reference": "", **over}


def _requests(database: Database) -> list[AccessRequest]:
    with database.session(readonly=True) as s:
        rows = list(s.execute(select(AccessRequest).order_by(AccessRequest.id)).scalars())
        s.expunge_all()
        return rows


# --- the catalogue -------------------------------------------------------------------------------


def test_the_catalogue_lists_searches_and_filters(anonymous, catalogue) -> None:
    page = anonymous.get("/data")
    assert page.status_code == 200
    text = text_of(page)
    assert 'href="/data"' in page.text  # "Data" in the navigation
    for slug in catalogue:
        assert f'href="/data/{slug}"' in page.text
    assert "Bus delays in Utrecht" in text and "Open" in text and "Data permit" in text

    def found(**query: str) -> list[str]:
        r = anonymous.get("/data", params=query)
        assert r.status_code == 200, r.text
        return [slug for slug in catalogue if f'href="/data/{slug}"' in r.text]

    assert found(q="vital") == ["icu-vitals"]
    assert found(q="DIABETES") == ["ehds-cohort"]  # keywords, any case
    assert found(q="busvertragingen") == ["bus-delays"]  # the Dutch title
    assert found(q="public transport") == ["bus-delays"]
    assert found(data_space="mobility") == ["bus-delays"]
    assert found(theme="HEAL") == ["icu-vitals", "ehds-cohort"]
    assert found(access_level="permit") == ["ehds-cohort"]
    assert found(licence="CC-BY-4.0") == ["bus-delays"]
    assert found(q="genome") == []
    assert "No dataset matches" in text_of(anonymous.get("/data", params={"q": "genome"}))


def test_filters_naming_unknown_things_are_explained(anonymous, catalogue) -> None:
    r = anonymous.get("/data", params={"data_space": "atlantis", "access_level": "secret"})
    assert r.status_code == 400
    assert 'role="alert"' in r.text and "name nothing the catalogue knows" in text_of(r)
    assert 'href="/data/icu-vitals"' not in r.text


# --- a dataset -----------------------------------------------------------------------------------


def test_a_dataset_page_shows_metadata_files_and_access_conditions(anonymous, catalogue,
                                                                   database) -> None:
    r = anonymous.get("/data/icu-vitals")
    assert r.status_code == 200
    text = text_of(r)
    assert "ICU vital signs, anonymised" in text
    assert "Vitale functies op de IC" in text  # the other language's title
    assert "Example University Medical Centre" in text and "Health" in text
    assert sh.sha256(sh.CSV) in text and "vitals.csv" in text
    assert "Steward approval" in text and "Request access" not in text  # signed out
    assert 'href="/sign-in?next=/data/icu-vitals"' in r.text
    assert 'href="/data/icu-vitals/files/' not in r.text  # not readable: no link
    assert "No profile of this dataset has been made yet" in text
    assert anonymous.get("/data/no-such-dataset").status_code == 404


def test_files_are_fetched_through_the_portal_only_when_allowed_and_logged(
        anonymous, browser_for, make_person, catalogue, database) -> None:
    page = anonymous.get("/data/bus-delays")
    link = page.text.split('href="/data/bus-delays/files/', 1)[1].split('"', 1)[0]
    r = anonymous.get(f"/data/bus-delays/files/{link}")
    assert r.status_code == 200 and r.content == b"line,delay\n12,3\n"
    assert r.headers["x-checksum-sha256"] == sh.sha256(b"line,delay\n12,3\n")
    [read] = sh.reads(database)
    assert (read.action.value, read.who, read.rule) == ("download", "anonymous",
                                                        "datalab.open")

    icu = anonymous.get("/data/icu-vitals")
    assert icu.status_code == 200
    # Guessing the file's address: refused, and nothing is logged.
    with database.session(readonly=True) as s:
        from fabriek.datalab.models import Distribution
        dist_id = s.execute(select(Distribution.id).where(
            Distribution.dataset_id == catalogue["icu-vitals"])).scalar_one()
    assert anonymous.get(f"/data/icu-vitals/files/{dist_id}").status_code == 401
    anna = browser_for(make_person("anna@lumen.example"))
    assert anna.get(f"/data/icu-vitals/files/{dist_id}").status_code == 422
    assert anonymous.get("/data/bus-delays/files/999999").status_code == 404
    assert _count(database, ReadEvent) == 1


# --- requests, decisions, grants ----------------------------------------------------------------


def test_an_applicant_requests_the_steward_approves_the_applicant_sees_the_grant(
        anonymous, browser_for, make_person, officer, steward, catalogue, database) -> None:
    applicant = make_person("anna@lumen.example")
    allocation_id = allocation(anonymous, officer, applicant)
    anna, stew = browser_for(applicant), browser_for(steward)

    form_page = anna.get("/data/icu-vitals")
    assert form_page.status_code == 200
    assert 'action="/data/icu-vitals/request"' in form_page.text
    assert f'<option value="{allocation_id}" selected>' in form_page.text  # the only project

    r = post_form(anna, "/data/icu-vitals/request", _request_form(allocation_id))
    assert r.status_code == 303 and r.headers["location"].startswith("/data/icu-vitals?notice=")
    [row] = _requests(database)
    assert (row.state, row.allocation_id, row.requester_id) == (
        RequestState.pending, allocation_id, applicant.user_id)
    assert "pending" in text_of(anna.get("/me"))

    queue = stew.get("/steward")
    assert queue.status_code == 200
    text = text_of(queue)
    assert f"Request {row.id} for icu-vitals" in text
    assert "Lumen" in text or "anna@lumen.example" in text
    assert "Train a sepsis early-warning model." in text
    r = post_form(stew, f"/steward/requests/{row.id}/decide",
                  {"decision": "approve", "reasons": "A clear, proportionate purpose."})
    assert r.status_code == 303, text_of(r)
    with database.session(readonly=True) as s:
        grant = s.execute(select(Grant)).scalar_one()
        assert grant.request_id == row.id and grant.purpose == row.purpose

    me = text_of(anna.get("/me"))
    assert "My data requests and grants" in me and "valid" in me
    assert "A clear, proportionate purpose." in me
    page = anna.get("/data/icu-vitals")
    assert f"Grant {grant.id}" in text_of(page)
    assert 'href="/data/icu-vitals/files/' in page.text  # now readable


def test_bad_requests_are_explained_and_nothing_is_written(
        anonymous, browser_for, make_person, officer, catalogue, database) -> None:
    applicant = make_person("anna@lumen.example")
    allocation_id = allocation(anonymous, officer, applicant)
    other = make_person("bert@other.example")
    theirs = allocation(anonymous, officer, other, legal_name="Other Labs BV",
                        registration_id="OL-2")
    anna = browser_for(applicant)
    too_far = (date.today() + timedelta(days=4000)).isoformat()
    cases = [
        ("icu-vitals", _request_form(allocation_id, purpose="short"), 400, "purpose"),
        ("icu-vitals", _request_form(allocation_id, expires_on="not a date"), 400,
         "Needed until"),
        ("icu-vitals", _request_form("", purpose="Train a model on vital signs."), 400,
         "choose the project"),
        ("icu-vitals", _request_form(allocation_id, expires_on="2020-01-01"), 400,
         "in the past"),
        ("icu-vitals", _request_form(allocation_id, expires_on=too_far), 400,
         "days away"),
        ("icu-vitals", _request_form(theirs), 404, "not found"),  # another organisation's
        ("ehds-cohort", _request_form(allocation_id), 422, "permit"),
        ("bus-delays", _request_form(allocation_id), 409, "no request is needed"),
    ]
    for slug, form, status, message in cases:
        r = post_form(anna, f"/data/{slug}/request", form)
        assert r.status_code == status, (form, r.status_code, text_of(r)[:300])
        assert message in text_of(r), (message, text_of(r)[:600])
        assert 'role="alert"' in r.text
        if slug != "bus-delays":  # open data has no request form to keep it in
            assert form["purpose"] in r.text  # what was typed is kept
    assert _count(database, AccessRequest) == 0
    r = post_form(anna, "/data/no-such/request", _request_form(allocation_id))
    assert r.status_code == 404
    assert _count(database, AccessRequest) == 0


def test_others_requests_and_grants_stay_invisible(
        anonymous, browser_for, make_person, officer, catalogue, database) -> None:
    applicant, other = make_person("anna@lumen.example"), make_person("bert@other.example")
    allocation_id = allocation(anonymous, officer, applicant)
    allocation(anonymous, officer, other, legal_name="Other Labs BV", registration_id="OL-2")
    anna, bert = browser_for(applicant), browser_for(other)
    post_form(anna, "/data/icu-vitals/request",
              _request_form(allocation_id, purpose="Lumen's secret research plan."))
    [row] = _requests(database)

    for page in (bert.get("/me"), bert.get("/data/icu-vitals")):
        assert page.status_code == 200
        assert "Lumen's secret research plan." not in page.text
        assert "anna@lumen.example" not in page.text
    # Guessing ids: not found, nothing changes.
    r = post_form(bert, f"/data/requests/{row.id}/withdraw")
    assert r.status_code == 404
    assert _requests(database)[0].state is RequestState.pending
    r = post_form(anna, f"/data/requests/{row.id}/withdraw", {"next": "/me"})
    assert r.status_code == 303
    assert _requests(database)[0].state is RequestState.withdrawn


def test_steward_pages_refuse_people_without_the_role(
        anonymous, browser_for, make_person, officer, steward, catalogue, database) -> None:
    applicant = make_person("anna@lumen.example")
    allocation_id = allocation(anonymous, officer, applicant)
    anna = browser_for(applicant)
    post_form(anna, "/data/icu-vitals/request", _request_form(allocation_id))
    [row] = _requests(database)

    assert anna.get("/steward").status_code == 403
    r = post_form(anna, f"/steward/requests/{row.id}/decide",
                  {"decision": "approve", "reasons": "I approve my own request."})
    assert r.status_code == 403
    assert anna.get("/steward/datasets/icu-vitals/reads").status_code == 403
    signed_out = anonymous.get("/steward", follow_redirects=False)
    assert signed_out.status_code in (302, 303, 401)
    # A steward of other datasets neither sees this queue nor decides it.
    other_steward = browser_for(make_person("steward@elsewhere.example", Role.data_steward))
    assert "icu-vitals" not in text_of(other_steward.get("/steward"))
    r = post_form(other_steward, f"/steward/requests/{row.id}/decide",
                  {"decision": "approve", "reasons": "Not mine to approve."})
    assert r.status_code == 404
    assert other_steward.get("/steward/datasets/icu-vitals/reads").status_code == 403
    assert _requests(database)[0].state is RequestState.pending
    assert _count(database, Grant) == 0


def test_a_decision_needs_a_choice_and_reasons(
        anonymous, browser_for, make_person, officer, steward, catalogue, database) -> None:
    applicant = make_person("anna@lumen.example")
    allocation_id = allocation(anonymous, officer, applicant)
    post_form(browser_for(applicant), "/data/icu-vitals/request", _request_form(allocation_id))
    [row] = _requests(database)
    stew = browser_for(steward)
    for form, message in (({"reasons": "Fine by me."}, "choose approve or reject"),
                          ({"decision": "approve", "reasons": ""}, "at least 3"),
                          ({"decision": "approve", "reasons": "Longer than asked.",
                            "expires_on": (date.today() + timedelta(days=90)).isoformat()},
                           "longer than was requested")):
        r = post_form(stew, f"/steward/requests/{row.id}/decide", form)
        assert r.status_code in (400, 422), (form, r.status_code)
        assert message in text_of(r), (message, text_of(r)[:500])
        assert 'role="alert"' in r.text
    assert _requests(database)[0].state is RequestState.pending
    assert _count(database, Grant) == 0

    r = post_form(stew, f"/steward/requests/{row.id}/decide",
                  {"decision": "reject", "reasons": "The purpose is too vague."})
    assert r.status_code == 303
    assert _requests(database)[0].state is RequestState.rejected
    r = post_form(stew, f"/steward/requests/{row.id}/decide",
                  {"decision": "approve", "reasons": "Changed my mind."})
    assert r.status_code == 409  # decided already
    assert "The purpose is too vague." in text_of(browser_for(applicant).get("/me"))


def test_a_steward_revokes_a_grant_with_a_reason_and_reads_the_log(
        anonymous, browser_for, make_person, officer, steward, catalogue, database) -> None:
    applicant = make_person("anna@lumen.example")
    allocation_id = allocation(anonymous, officer, applicant)
    grant_id = sh.grant(database, catalogue["icu-vitals"], allocation_id,
                        purpose="Train a sepsis early-warning model.")
    anna, stew = browser_for(applicant), browser_for(steward)
    page = anna.get("/data/icu-vitals")
    link = page.text.split('href="/data/icu-vitals/files/', 1)[1].split('"', 1)[0]
    assert anna.get(f"/data/icu-vitals/files/{link}").content == sh.CSV

    log = stew.get("/steward/datasets/icu-vitals/reads")
    assert log.status_code == 200
    text = text_of(log)
    assert "anna@lumen.example" in text and "Train a sepsis early-warning model." in text
    assert "download" in text and f"grant {grant_id}" in text
    assert "Lumen" in text  # the reader's organisation (tests.builders' start-up)

    r = post_form(stew, f"/steward/grants/{grant_id}/revoke", {"reason": ""})
    assert r.status_code == 400 and 'role="alert"' in r.text
    with database.session(readonly=True) as s:
        assert s.get(Grant, grant_id).revoked_at is None
    r = post_form(stew, f"/steward/grants/{grant_id}/revoke",
                  {"reason": "The project ended early."})
    assert r.status_code == 303
    me = text_of(anna.get("/me"))
    assert "revoked" in me and "The project ended early." in me
    assert anna.get(f"/data/icu-vitals/files/{link}").status_code == 422


def test_the_profile_of_the_dataset_services_is_shown_to_those_who_may_see_it(
        anonymous, browser_for, steward, catalogue, monkeypatch) -> None:
    """The page reads the services' runs (fabriek.datalab.runs) when that capability is
    installed; here a stand-in with the same shape: runs of the dataset the viewer may see."""
    import sys
    import types
    from datetime import UTC, datetime

    seen: list[str] = []

    def list_runs(session, principal, slug, *, after=0, limit=50):  # type: ignore[no-untyped-def]
        seen.append(principal.email)
        profile = {"format": "csv", "rows": 2, "columns": [
            {"name": "heart_rate", "type": "BIGINT", "kind": "integer", "count": 2,
             "missing": 0, "distinct_approx": 2, "min": 72, "max": 75}]}
        run = types.SimpleNamespace(service="profile", state="done", result=profile,
                                    distribution_id=-1,
                                    finished_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
        return [run] if principal.email == "steward@umc.example" else []

    import fabriek.datalab

    fake = types.SimpleNamespace(list_runs=list_runs)
    monkeypatch.setitem(sys.modules, "fabriek.datalab.runs", fake)
    monkeypatch.setattr(fabriek.datalab, "runs", fake, raising=False)
    text = text_of(browser_for(steward).get("/data/icu-vitals"))
    assert "Columns as the profile found them" in text and "heart_rate" in text
    assert "2 rows" in text and "2026-11-21 12:00 UTC" in text
    assert "No profile of this dataset" in text_of(anonymous.get("/data/icu-vitals"))
    assert seen == ["steward@umc.example"]  # anonymous readers are not asked about


def test_the_job_form_names_datasets_and_is_refused_without_a_grant(
        anonymous, browser_for, make_person, officer, catalogue, database) -> None:
    from fabriek.compute.models import Job

    applicant = make_person("anna@lumen.example")
    allocation_id = allocation(anonymous, officer, applicant)
    anna = browser_for(applicant)
    form = {"name": "read-vitals", "run_as": "command", "command": "ls datasets",
            "gpus": "0", "nodes": "1", "time_limit_minutes": "10",
            "datasets": "icu-vitals, bus-delays"}
    url = f"/allocations/{allocation_id}/jobs/new"
    assert 'name="datasets"' in anna.get(url).text
    r = post_form(anna, url, form)
    assert r.status_code == 422
    assert "dataset icu-vitals" in text_of(r) and "request access first" in text_of(r)
    r = post_form(anna, url, {**form, "datasets": "../etc"})
    assert r.status_code == 400 and 'id="datasets-error"' in r.text
    assert _count(database, Job) == 0

    sh.grant(database, catalogue["icu-vitals"], allocation_id)
    r = post_form(anna, url, form)
    assert r.status_code == 303, text_of(r)[:500]
    with database.session(readonly=True) as s:
        assert s.execute(select(Job.spec)).scalar_one()["datasets"] == ["icu-vitals",
                                                                        "bus-delays"]
