"""The access officer's pages: the queue by mode and cut-off, a proposal with its reviews and
referral, reviewer assignment, decisions with a referral override, appeals, cut-off release,
direct allocations; bad input changes nothing and other roles are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from fabriek.access.enums import ProposalState
from fabriek.access.models import Allocation, Proposal
from fabriek.db.session import Database
from fabriek.federation.domain import ExecutorKind
from fabriek.federation.models import Partition
from fabriek.identity.enums import Role
from fabriek.kit.clock import utcnow
from tests import builders
from tests.api import helpers as api
from tests.portal.helpers import post_form
from tests.portal.staff_helpers import (
    fast_lane_in_review,
    page_text,
    proposal_row,
    reviews_of,
)

pytestmark = pytest.mark.integration

ACCEPT = {"outcome": "accept", "reasons": "Technically ready; the request is justified."}


def _allocations(database: Database, proposal_id: int) -> list[Allocation]:
    with database.session(readonly=True) as s:
        rows = list(s.execute(select(Allocation).where(Allocation.proposal_id == proposal_id))
                    .scalars())
        for a in rows:
            s.expunge(a)
        return rows


@pytest.fixture
def applicant(make_person):  # type: ignore[no-untyped-def]
    return make_person("anna@lumen.example")


@pytest.fixture
def reviewer(make_person):  # type: ignore[no-untyped-def]
    return make_person("rev@uni.example", Role.reviewer)


@pytest.fixture
def office(browser_for, officer):  # type: ignore[no-untyped-def]
    return browser_for(officer)


def _reviewed(anonymous, applicant, officer, reviewer) -> int:  # type: ignore[no-untyped-def]
    """A Fast Lane proposal with its one technical review submitted: ready to decide."""
    _, proposal_id = fast_lane_in_review(anonymous, applicant)
    review = api.assign(anonymous, officer, proposal_id, reviewer)
    api.review(anonymous, reviewer, review["id"])
    return proposal_id


def test_the_queue_counts_by_mode_and_cut_off_and_filters(anonymous, office, applicant,
                                                          database: Database) -> None:
    org_id, fast = fast_lane_in_review(anonymous, applicant)
    large = api.draft(anonymous, applicant, org_id, "large-scale", gpu_hours=60_000,
                      duration_months=3)
    api.submit(anonymous, applicant, large["id"], "submitted")
    page = office.get("/officer")
    assert page.status_code == 200
    text = page_text(page)
    assert "Large Scale" in text and "Fast Lane" in text and "permanently open" in text
    # The Large Scale proposal waits for the next cut-off, which the table names.
    held = proposal_row(database, large["id"]).cutoff_at
    assert held is not None and held.strftime("%Y-%m-%d %H:%M UTC") in text
    assert f'href="/officer/proposals/{fast}"' in page.text
    assert "Lumen Vision B.V." in text

    only_large = office.get("/officer?mode=large-scale")
    assert f'/officer/proposals/{large["id"]}"' in only_large.text
    assert f'/officer/proposals/{fast}"' not in only_large.text
    in_review = office.get("/officer?state=in-review")
    assert f'/officer/proposals/{fast}"' in in_review.text
    assert f'/officer/proposals/{large["id"]}"' not in in_review.text
    for bad in ("/officer?state=pending", "/officer?mode=nope"):
        r = office.get(bad)
        assert r.status_code == 400 and "unknown" in page_text(r)


def test_releasing_a_past_cut_off_opens_review(anonymous, office, applicant,
                                               database: Database) -> None:
    org_id = api.org(anonymous, applicant)
    large = api.draft(anonymous, applicant, org_id, "large-scale", gpu_hours=60_000,
                      duration_months=3)
    api.submit(anonymous, applicant, large["id"], "submitted")
    with database.unit_of_work() as s:  # its cut-off has passed
        s.execute(update(Proposal).where(Proposal.id == large["id"]).values(
            cutoff_at=utcnow() - timedelta(hours=1)))
    assert "Open review for Large Scale" in page_text(office.get("/officer"))
    r = post_form(office, "/officer/cutoffs/release", {"mode": "large-scale"})
    assert r.status_code == 303
    assert r.headers["location"] == "/officer?mode=large-scale&state=in-review&notice=released"
    assert proposal_row(database, large["id"]).state is ProposalState.in_review
    after = office.get(r.headers["location"])
    assert f'/officer/proposals/{large["id"]}"' in after.text
    bad = post_form(office, "/officer/cutoffs/release", {"mode": "nope"})
    assert bad.status_code == 422 and "unknown access mode" in page_text(bad)


def test_the_proposal_page_shows_reviews_and_the_referral_term_by_term(
        anonymous, office, applicant, officer, reviewer) -> None:
    proposal_id = _reviewed(anonymous, applicant, officer, reviewer)
    page = office.get(f"/officer/proposals/{proposal_id}")
    assert page.status_code == 200
    text = page_text(page)
    for expected in ("rev@uni.example", "Ready; trim the request a little.",
                     "The team lead reviewed for us before; strong.", "average weighted score",
                     "Local AI Factory (embedded), partition gpu", "first choice",
                     "capacity", "hardware", "antenna", "the sum of the points",
                     "Record the decision"):
        assert expected in text, expected
    assert page.text.count("<h1>") == 1


def test_assign_review_and_accept_through_the_pages(anonymous, office, applicant, reviewer,
                                                    database: Database) -> None:
    _, proposal_id = fast_lane_in_review(anonymous, applicant)
    r = post_form(office, f"/officer/proposals/{proposal_id}/reviewers",
                  {"reviewer_id": str(reviewer.user_id), "kind": "technical"})
    assert r.status_code == 303, page_text(r)
    [review] = reviews_of(database, proposal_id)
    assert review.reviewer_id == reviewer.user_id
    # Accepting before the review is in: refused with the reason, nothing written.
    before = api.row_counts(database)
    r = post_form(office, f"/officer/proposals/{proposal_id}/decision", ACCEPT)
    assert r.status_code == 409 and "needs 1 technical review(s) more" in page_text(r)
    assert api.row_counts(database) == before

    api.review(anonymous, reviewer, review.id)
    r = post_form(office, f"/officer/proposals/{proposal_id}/decision", ACCEPT)
    assert r.status_code == 303 and r.headers["location"].endswith("?notice=decided")
    assert proposal_row(database, proposal_id).state is ProposalState.accepted
    [allocation] = _allocations(database, proposal_id)
    assert (allocation.factory, allocation.gpu_hours) == ("local", 40_000)
    page = page_text(office.get(r.headers["location"]))
    assert "The decision is recorded." in page and "the referral's first choice" in page
    # The applicant-side pages it links to open for the officer too.
    assert office.get(f"/allocations/{allocation.id}").status_code == 200
    assert "accepted" in page_text(office.get(f"/proposals/{proposal_id}"))


def test_accepting_with_less_and_rejecting(anonymous, office, applicant, officer, reviewer,
                                           database: Database) -> None:
    reduced = _reviewed(anonymous, applicant, officer, reviewer)
    r = post_form(office, f"/officer/proposals/{reduced}/decision",
                  {**ACCEPT, "outcome": "accept-reduced", "gpu_hours_granted": "25000"})
    assert r.status_code == 303, page_text(r)
    assert proposal_row(database, reduced).gpu_hours_granted == 25_000
    assert proposal_row(database, reduced).state is ProposalState.accepted_reduced

    _, rejected = fast_lane_in_review(anonymous, applicant, registration_id="KVK-2")
    # A rejection needs no review; GPU-hours typed by mistake are ignored, not refused.
    r = post_form(office, f"/officer/proposals/{rejected}/decision",
                  {"outcome": "reject", "reasons": "No work plan.", "gpu_hours_granted": "5"})
    assert r.status_code == 303, page_text(r)
    row = proposal_row(database, rejected)
    assert row.state is ProposalState.rejected and row.decision_reasons == "No work plan."


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"outcome": "accept-reduced"}, 400, "accepting with less needs gpu_hours_granted"),
    ({"outcome": "accept-reduced", "gpu_hours_granted": "lots"}, 400, "enter a whole number"),
    ({"outcome": "accept-reduced", "gpu_hours_granted": "40000"}, 422,
     "must grant fewer GPU-hours"),
    ({"outcome": "accept-reduced", "gpu_hours_granted": "90000"}, 422,
     "cannot grant 90,000 GPU-hours"),
    ({"outcome": ""}, 400, "Input should be 'accept', 'accept-reduced' or 'reject'"),
    ({"reasons": "ok"}, 400, "at least 3 characters"),
    ({"site": "nowhere/gpu", "override_reason": "Closer to the data."}, 422,
     "unknown factory 'nowhere'"),
    ({"site": "local/cpu", "override_reason": "Closer to the data."}, 422,
     "local has no partition 'cpu'"),
])
def test_bad_decisions_are_explained_and_change_nothing(
        anonymous, office, applicant, officer, reviewer, database: Database, form, status,
        message) -> None:
    proposal_id = _reviewed(anonymous, applicant, officer, reviewer)
    before = api.row_counts(database)
    r = post_form(office, f"/officer/proposals/{proposal_id}/decision", {**ACCEPT, **form})
    assert r.status_code == status, page_text(r)
    assert message in page_text(r)
    assert 'role="alert"' in r.text
    assert api.row_counts(database) == before
    assert proposal_row(database, proposal_id).state is ProposalState.in_review
    # What was typed stays in the form.
    assert "Technically ready" in r.text or form.get("reasons") == "ok"


def test_overriding_the_referral_needs_a_reason_and_is_audited(
        anonymous, office, applicant, officer, reviewer, database: Database) -> None:
    with database.unit_of_work() as s:  # a second connected factory with H100s
        s.execute(update(Partition).where(Partition.factory_id == "bsc").values(
            executor=ExecutorKind.local))
    proposal_id = _reviewed(anonymous, applicant, officer, reviewer)
    referral = anonymous.get(f"/api/v1/proposals/{proposal_id}/referral",
                             headers=officer.headers).json()
    ranked = [r for r in referral["rankings"] if r["eligible"]]
    assert len(ranked) == 2
    other = f"{ranked[1]['factory']}/{ranked[1]['partition']}"
    page = office.get(f"/officer/proposals/{proposal_id}")
    assert f'<option value="{other}">' in page.text

    before = api.row_counts(database)
    r = post_form(office, f"/officer/proposals/{proposal_id}/decision",
                  {**ACCEPT, "site": other})
    assert r.status_code == 422
    assert "choosing another factory needs a reason" in page_text(r)
    assert api.row_counts(database) == before

    r = post_form(office, f"/officer/proposals/{proposal_id}/decision",
                  {**ACCEPT, "site": other, "override_reason": "The data lab is there."})
    assert r.status_code == 303, page_text(r)
    [allocation] = _allocations(database, proposal_id)
    assert f"{allocation.factory}/{allocation.partition}" == other
    assert "The data lab is there." in allocation.placement_reason
    assert api.audit_actions(database, "allocation.referral-overridden", allocation.id) == 1


def test_an_appeal_is_decided_on_the_page(anonymous, office, applicant,
                                          database: Database) -> None:
    _, proposal_id = fast_lane_in_review(anonymous, applicant)
    post_form(office, f"/officer/proposals/{proposal_id}/decision",
              {"outcome": "reject", "reasons": "No work plan attached."})
    r = anonymous.post(f"/api/v1/proposals/{proposal_id}/appeal", headers=applicant.headers,
                       json={"reason": "The work plan is in section 3."})
    assert r.status_code == 200, r.text
    page = page_text(office.get(f"/officer/proposals/{proposal_id}"))
    assert "The work plan is in section 3." in page and "Decide the appeal" in page

    before = api.row_counts(database)
    r = post_form(office, f"/officer/proposals/{proposal_id}/appeal", {"reason": "Found it."})
    assert r.status_code == 400 and "choose whether to reopen" in page_text(r)
    r = post_form(office, f"/officer/proposals/{proposal_id}/appeal",
                  {"reopen": "yes", "reason": ""})
    assert r.status_code == 400 and "at least 3 characters" in page_text(r)
    assert api.row_counts(database) == before

    r = post_form(office, f"/officer/proposals/{proposal_id}/appeal",
                  {"reopen": "yes", "reason": "Work plan found."})
    assert r.status_code == 303
    assert proposal_row(database, proposal_id).state is ProposalState.in_review


def _direct_form(org_id: int, **over: str) -> dict[str, str]:
    body = builders.proposal(org_id, "emergency", gpu_hours=20_000, duration_months=1)
    form = {k: str(v) for k, v in body.items() if k not in ("civilian_use", "mode")}
    return {**form, "mode": "emergency", "civilian_use": "yes",
            "reasons": "Flood forecasting for the storm surge", **over}


def test_an_emergency_allocation_through_the_page(anonymous, office, make_person,
                                                  database: Database) -> None:
    owner = make_person("crisis@agency.example")
    org_id = api.org(anonymous, owner, legal_name="Rijkswaterstaat", kind="public-authority",
                     registration_id="OIN-1", headcount=None, turnover_eur=None,
                     balance_sheet_eur=None)
    page = office.get("/officer/direct")
    assert page.status_code == 200
    text = page_text(page)
    assert "An emergency allocation pre-empts running work" in text
    assert "pre-empts lower classes" in text and "Rijkswaterstaat (NL)" in text

    r = post_form(office, "/officer/direct", _direct_form(org_id))
    assert r.status_code == 303, page_text(r)
    proposal_id = int(r.headers["location"].split("/")[3].split("?")[0])
    [allocation] = _allocations(database, proposal_id)
    assert (allocation.priority_class, allocation.gpu_hours) == ("emergency", 20_000)
    shown = page_text(office.get(r.headers["location"]))
    assert "The allocation is made." in shown and "emergency" in shown


@pytest.mark.parametrize(("over", "status", "message"), [
    ({"title": ""}, 400, "at least 1 character"),
    ({"gpu_hours": "many"}, 400, "enter a whole number"),
    ({"start_on": "tomorrow"}, 400, "enter a date as YYYY-MM-DD"),
    ({"mode": "playground"}, 422, "is applied for, not allocated directly"),
    ({"ethics_signed_by": ""}, 400, "go together"),
    ({"civilian_use": ""}, 422, "civilian"),
    ({"site": "nowhere/gpu", "override_reason": "Because."}, 422, "unknown factory"),
])
def test_bad_direct_allocations_are_explained_and_change_nothing(
        anonymous, office, make_person, database: Database, over, status, message) -> None:
    owner = make_person("crisis@agency.example")
    org_id = api.org(anonymous, owner)
    before = api.row_counts(database)
    r = post_form(office, "/officer/direct", _direct_form(org_id, **over))
    assert r.status_code == status, page_text(r)
    assert message in page_text(r)
    assert api.row_counts(database) == before
    assert "Flood forecasting for the storm surge" in r.text  # kept for the next try


def test_an_ineligible_organisation_is_refused_with_the_rule(anonymous, office, make_person,
                                                             database: Database) -> None:
    owner = make_person("lab@example.us")
    org_id = api.org(anonymous, owner, country="US", registration_id="EIN-1")
    before = api.row_counts(database)
    r = post_form(office, "/officer/direct", _direct_form(org_id))
    assert r.status_code == 422 and "eligibility" in page_text(r)
    assert api.row_counts(database) == before


@pytest.mark.parametrize("role", [Role.applicant, Role.reviewer, Role.factory_operator])
def test_other_roles_are_refused_and_change_nothing(anonymous, browser_for, make_person,
                                                    applicant, database: Database,
                                                    role) -> None:
    org_id, proposal_id = fast_lane_in_review(anonymous, applicant)
    client = browser_for(make_person("someone@x.example", role))
    for url in ("/officer", f"/officer/proposals/{proposal_id}", "/officer/direct",
                "/officer/proposals/999999"):
        r = client.get(url)
        assert r.status_code == 403 and "for access officers" in page_text(r), url
    before = api.row_counts(database)
    for url, form in ((f"/officer/proposals/{proposal_id}/decision", ACCEPT),
                      (f"/officer/proposals/{proposal_id}/reviewers",
                       {"reviewer_id": "1", "kind": "technical"}),
                      (f"/officer/proposals/{proposal_id}/appeal",
                       {"reopen": "yes", "reason": "Because."}),
                      ("/officer/cutoffs/release", {"mode": "large-scale"}),
                      ("/officer/direct", _direct_form(org_id))):
        assert post_form(client, url, form).status_code == 403, url
    assert api.row_counts(database) == before
    assert anonymous.get("/officer", follow_redirects=False).status_code == 303


def test_an_officer_may_not_decide_for_their_own_organisation(
        anonymous, browser_for, make_person, applicant, database: Database) -> None:
    org_id, proposal_id = fast_lane_in_review(anonymous, applicant)
    insider = make_person("officer@lumen.example", Role.access_officer)
    api.add_member(anonymous, applicant, org_id, insider)
    client = browser_for(insider)
    assert "you may read this proposal, not decide it" in page_text(
        client.get(f"/officer/proposals/{proposal_id}"))
    before = api.row_counts(database)
    r = post_form(client, f"/officer/proposals/{proposal_id}/decision",
                  {"outcome": "reject", "reasons": "Not ours to judge."})
    assert r.status_code == 403 and "own organisation" in page_text(r)
    assert api.row_counts(database) == before


def test_an_unknown_proposal_is_not_found(office) -> None:
    assert office.get("/officer/proposals/999999").status_code == 404
