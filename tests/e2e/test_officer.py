"""The staff's pages in Chromium: a reviewer scores a Fast Lane proposal that an access officer
assigned and then accepts; an access officer makes an emergency allocation and the owner of
the job it pre-empts sees that on the job's page; a factory operator announces maintenance.
Every page is checked with axe-core and kept as a screenshot."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from fabriek.identity.enums import Role
from tests import builders

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(live_server) -> Iterator[Callable[..., httpx.Client]]:  # type: ignore[no-untyped-def]
    """api(person) -> an httpx client of the live server's API acting as that person."""
    opened: list[httpx.Client] = []

    def make(person: Any) -> httpx.Client:
        client = httpx.Client(base_url=f"{live_server.url}/api/v1", headers=person.headers,
                              timeout=30)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def _organisation(client: httpx.Client, **facts: Any) -> int:
    return _ok(client.post("/organisations?vouch=true", json=builders.startup_org(**facts)),
               201)["id"]


def _submitted(client: httpx.Client, org_id: int, mode: str, expect_state: str,
               **over: Any) -> dict[str, Any]:
    """A proposal drafted, self-assessed under the AI Act (minimal risk) and submitted."""
    draft = _ok(client.post("/proposals", json=builders.proposal(org_id, mode, **over)), 201)
    assessment = _ok(client.post("/act/assessments", json=builders.assessment(org_id)), 201)
    _ok(client.put(f"/proposals/{draft['id']}/self-assessment",
                   json={"assessment_id": assessment["id"]}))
    body = _ok(client.post(f"/proposals/{draft['id']}/submit"))
    assert body["state"] == expect_state, body
    return body


def _until(client: httpx.Client, job_id: int, done: Callable[[dict[str, Any]], bool],
           timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = _ok(client.get(f"/jobs/{job_id}"))
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck: {job}"
        time.sleep(0.2)


def _sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name="Sign out").click()


def _notice(page: Page, text: str) -> None:
    expect(page.locator("p.notice")).to_contain_text(text)


def test_a_reviewer_scores_a_fast_lane_proposal_and_the_officer_accepts(
        page: Page, live_server, api, sign_in, check_accessible, screenshot) -> None:
    officer = live_server.person("officer@review.e2e.example", Role.access_officer)
    reviewer = live_server.person("rita@uni.e2e.example", Role.reviewer, name="Rita Reviewer")
    applicant = live_server.person("anna@fastlane.e2e.example")
    client = api(applicant)
    org_id = _organisation(client, legal_name="Fast Lane Vision B.V.",
                           registration_id="KVK-E2E-FL")
    proposal = _submitted(client, org_id, "fast-lane", "in-review", gpu_hours=2000,
                          title="Defect detection for Dutch SMEs")
    url = f"{live_server.url}/officer/proposals/{proposal['id']}"

    # The access officer finds it in the queue and assigns the reviewer.
    sign_in(page, officer, next="/officer")
    expect(page.get_by_role("heading", level=1)).to_have_text("Access office")
    check_accessible(page)
    screenshot(page, "officer-queue")
    page.get_by_role("link", name="Defect detection for Dutch SMEs").click()
    expect(page).to_have_url(url)
    check_accessible(page)
    screenshot(page, "officer-proposal-in-review")
    page.get_by_label("Reviewer", exact=True).select_option(label="Rita Reviewer "
                                                                  "(rita@uni.e2e.example)")
    page.get_by_label("Kind of review").select_option("technical")
    with page.expect_navigation():
        page.get_by_role("button", name="Assign").click()
    _notice(page, "The reviewer is assigned.")
    _sign_out(page)

    # The reviewer scores it through the review page.
    sign_in(page, reviewer, next="/reviews")
    check_accessible(page)
    screenshot(page, "reviewer-queue")
    page.get_by_role("link", name="Defect detection for Dutch SMEs").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Defect detection")
    expect(page.get_by_text("Fast Lane Vision B.V. (NL)")).to_be_visible()
    check_accessible(page)
    screenshot(page, "reviewer-review-form")
    page.get_by_role("group", name="Code and data are ready to run at scale").get_by_label(
        "4", exact=True).check()
    page.get_by_role("group", name="The GPU-hours requested are justified").get_by_label(
        "3", exact=True).check()
    page.get_by_label("Comment to the applicant").fill("Ready to run; trim the checkpoints.")
    page.get_by_label("Private comment to the access officers").fill("A strong team.")
    with page.expect_navigation():
        page.get_by_role("button", name="Submit the review").click()
    _notice(page, "Your review is submitted.")
    expect(page.get_by_role("table", name="Submitted")).to_contain_text("3.50")
    check_accessible(page)
    screenshot(page, "reviewer-review-submitted")
    _sign_out(page)

    # The access officer sees the score and accepts.
    sign_in(page, officer, next=f"/officer/proposals/{proposal['id']}")
    expect(page.locator("#reviews ~ table").first).to_contain_text("1")
    expect(page.get_by_text("A strong team.")).to_be_visible()
    # Accepting with less but naming no GPU-hours: the form comes back with the reason.
    page.get_by_label("Accept with fewer GPU-hours").check()
    page.get_by_label("Reasons (the applicant reads them)").fill("Ready, and justified.")
    with page.expect_navigation():
        page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("alert").first).to_contain_text(
        "accepting with less needs gpu_hours_granted")
    check_accessible(page)
    screenshot(page, "officer-decision-error")
    page.get_by_label("Accept", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Record the decision").click()
    _notice(page, "The decision is recorded.")
    expect(page.get_by_role("table", name="What was granted")).to_contain_text("local/gpu")
    check_accessible(page)
    screenshot(page, "officer-proposal-accepted")
    assert _ok(client.get(f"/proposals/{proposal['id']}"))["state"] == "accepted"


def test_an_emergency_allocation_pre_empts_and_the_owner_sees_it(
        page: Page, live_server, api, sign_in, check_accessible, screenshot) -> None:
    officer = live_server.person("officer@crisis.e2e.example", Role.access_officer)
    owner = live_server.person("owner@busy.e2e.example")
    duty = live_server.person("duty@water.e2e.example")
    owners = api(owner)
    owner_org = _organisation(owners, legal_name="Busy Training B.V.",
                              registration_id="KVK-E2E-BUSY")
    allocation_id = _submitted(owners, owner_org, "playground", "accepted", gpu_hours=200,
                               duration_months=1)["allocation_ids"][0]
    # The owner's job holds every GPU of the embedded factory.
    victim = _ok(owners.post("/jobs", json={
        "allocation_id": allocation_id, "name": "long-training", "gpus": 4,
        "time_limit_minutes": 30, "script": "sleep 600"}), 201)
    _until(owners, victim["id"], lambda j: j["state"] == "running")
    duties = api(duty)
    _organisation(duties, legal_name="Rijkswaterstaat E2E", kind="public-authority",
                  registration_id="OIN-E2E-1", headcount=None, turnover_eur=None,
                  balance_sheet_eur=None)

    sign_in(page, officer, next="/officer/direct")
    expect(page.get_by_role("heading", name="An emergency allocation pre-empts running work")
           ).to_be_visible()
    # The warning counts the work at risk: one lower-class job running on local/gpu.
    expect(page.get_by_role("table", name="Work an emergency could pre-empt now")
           ).to_contain_text("local/gpu")
    check_accessible(page)
    screenshot(page, "officer-direct-form")
    page.locator("#mode-emergency").check()
    page.get_by_label("Organisation", exact=True).select_option(label="Rijkswaterstaat E2E (NL)")
    page.get_by_label("Title", exact=True).fill("Storm surge flood forecasting")
    page.get_by_label("Abstract", exact=True).fill(
        "Ensemble flood forecasts for the coming storm surge.")
    page.get_by_label("Sector", exact=True).select_option("climate")
    page.get_by_label("The AI system or model the compute is for").fill(
        "A flood forecasting model")
    page.get_by_label("GPU-hours", exact=True).fill("100")
    page.get_by_label("Duration in months", exact=True).fill("1")
    page.get_by_label("Ethics commitment", exact=True).select_option("platform-declaration")
    page.get_by_label("Signed by (name and function)").fill("Duty officer, Rijkswaterstaat")
    page.get_by_label("Reasons for the allocation").fill("Storm surge warning level red.")
    with page.expect_navigation():
        page.get_by_role("button", name="Allocate now").click()
    _notice(page, "The allocation is made.")
    granted = page.get_by_role("table", name="What was granted")
    expect(granted).to_contain_text("emergency")
    check_accessible(page)
    screenshot(page, "officer-emergency-allocated")
    emergency = int(granted.get_by_role("link").first.get_attribute("href").rsplit("/", 1)[1])

    # The crisis team's job needs the GPUs: the owner's job is stopped and requeued.
    urgent = _ok(duties.post("/jobs", json={
        "allocation_id": emergency, "name": "surge-forecast", "gpus": 4,
        "time_limit_minutes": 5, "script": "sleep 2"}), 201)
    _until(owners, victim["id"], lambda j: j["preemptions"] >= 1)
    _until(duties, urgent["id"], lambda j: j["state"] in ("running", "completed"))
    _sign_out(page)

    sign_in(page, owner, next=f"/jobs/{victim['id']}")
    expect(page.get_by_text("This job was pre-empted 1 time")).to_be_visible()
    check_accessible(page)
    screenshot(page, "owner-job-pre-empted")


def test_a_factory_operator_reads_the_calendar_and_announces_maintenance(
        page: Page, live_server, api, sign_in, check_accessible, screenshot) -> None:
    officer = live_server.person("officer@ops.e2e.example", Role.access_officer)
    operator = live_server.person("ops@local.e2e.example", Role.factory_operator)
    _ok(api(officer).post("/factories/local/operators", json={"email": operator.email}), 201)

    sign_in(page, operator, next="/me")
    check_accessible(page)
    page.get_by_role("link", name="Go to my factories").click()
    check_accessible(page)
    screenshot(page, "operator-factories")
    page.get_by_role("link", name="Local AI Factory (embedded)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Local AI Factory (embedded)")
    expect(page.locator("svg.bar")).to_have_count(12)
    check_accessible(page)
    screenshot(page, "operator-factory")

    form = page.locator("form[action$='/maintenance']")
    form.get_by_label("Partition").select_option("gpu")
    form.get_by_label("From (UTC)").fill("2030-03-02T08:00")
    form.get_by_label("Until (UTC)").fill("2030-03-02T20:00")
    form.get_by_label("GPUs taken (empty: all of them)").fill("99")
    form.get_by_label("Reason").fill("Cooling maintenance")
    with page.expect_navigation():
        form.get_by_role("button", name="Announce the window").click()
    expect(page.get_by_role("alert").first).to_contain_text("more than the 4 GPUs")
    check_accessible(page)  # the form with its error tied to the field
    screenshot(page, "operator-maintenance-error")
    form = page.locator("form[action$='/maintenance']")
    form.get_by_label("GPUs taken (empty: all of them)").fill("")
    with page.expect_navigation():
        form.get_by_role("button", name="Announce the window").click()
    _notice(page, "The maintenance window is announced.")
    expect(page.get_by_role("table", name="Announced maintenance")).to_contain_text(
        "Cooling maintenance")
    check_accessible(page)
    screenshot(page, "operator-maintenance-announced")
