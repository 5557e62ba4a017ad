"""The public dashboard in Chromium: after a start-up's Playground job has run, an observer
(not signed in) sees the same figures as the API answers, every chart drawn without
JavaScript, and the page passes axe."""

from __future__ import annotations

import sys
import time
from datetime import date

import httpx
import pytest
from playwright.sync_api import Page, expect

from fabriek.cli.demo import DEMO_AI_ACT_ANSWERS
from tests.e2e.conftest import LiveServerConfig

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live_server_config() -> LiveServerConfig:
    # Figures computed at each request: the page and the API must agree on fresh data.
    return LiveServerConfig(env={"FABRIEK_OBSERVATORY_CACHE_SECONDS": "0"})


def _run_a_playground_job(live_server) -> None:  # type: ignore[no-untyped-def]
    applicant = live_server.person("observed@e2e.example")
    today = date.today()
    with live_server.client(applicant) as fab:
        org = fab.organisations.register({
            "legal_name": "Observed AI B.V.", "country": "NL", "registration_id": "90000123",
            "kind": "enterprise", "founded_on": today.replace(year=today.year - 1, day=1),
            "headcount": 4, "turnover_eur": "50000", "balance_sheet_eur": "50000"}, vouch=True)
        draft = fab.proposals.create({
            "organisation_id": org.id, "mode": "playground", "title": "Observed project",
            "abstract": "A small model trained to show up in the programme's figures.",
            "sector": "language", "gpu_hours": 100, "duration_months": 1, "start_on": today,
            "intended_system": "A research prototype; nothing is placed on the market.",
            "civilian_use": True, "ethics_commitment": "platform-declaration",
            "ethics_signed_by": "Observer"})
        assessment = fab.request("POST", "/act/assessments", json={
            "organisation_id": org.id, "lang": "en", "answers": DEMO_AI_ACT_ANSWERS})
        fab.request("PUT", f"/proposals/{draft.id}/self-assessment",
                    json={"assessment_id": assessment["id"]})
        decided = fab.proposals.submit(draft.id)
        assert decided.state.value == "accepted", decided
        job = fab.jobs.submit({"allocation_id": decided.allocation_ids[0], "name": "observed",
                               "gpus": 2, "time_limit_minutes": 2,
                               "command": [sys.executable, "-c", "import time; time.sleep(1)"]})
        deadline = time.monotonic() + 60
        while (job := fab.jobs.get(job.id)).state.value != "completed":
            assert job.state.value not in ("failed", "cancelled", "timeout"), job.reason
            assert time.monotonic() < deadline, f"job still {job.state.value}"
            time.sleep(0.2)


def test_the_dashboard_shows_what_the_api_says(page: Page, live_server, check_accessible,
                                               screenshot) -> None:
    _run_a_playground_job(live_server)
    api = httpx.get(live_server.url + "/api/v1/observatory").json()
    total = api["gpu_hours"]["total"]
    assert total["allocated_gpu_hours"] >= 100 and total["used_gpu_hours"] > 0

    page.goto(live_server.url + "/dashboard")
    figures = page.locator(".key-figures .big")
    share = api["startup_share"]["share_startups_and_smes"]
    expect(figures.nth(0)).to_have_text(f"{100 * share:.1f} %")
    expect(figures.nth(1)).to_have_text(f"{total['requested_gpu_hours']:,.0f}".replace(
        ",", "\u202f"))
    expect(figures.nth(2)).to_have_text(f"{total['used_gpu_hours']:,.0f}".replace(
        ",", "\u202f"))
    # The Playground row of the time-to-first-job table matches the API's figure.
    playground = next(m for m in api["time_to_first_job"]["modes"] if m["mode"] == "playground")
    assert playground["started"] >= 1
    page.get_by_text("The figures as a table").first.click()
    row = page.locator("#time-to-first-job table tr", has_text="playground")
    expect(row).to_contain_text(f"{round(playground['median_hours'], 2)}")
    # Nine server-drawn charts, each an image with a name.
    charts = page.locator("figure.chart svg[role=img]")
    expect(charts).to_have_count(9)
    check_accessible(page)
    screenshot(page, "dashboard")

    page.get_by_label("Window for utilisation and queue waits").select_option("7")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(live_server.url + "/dashboard?days=7")
    check_accessible(page)

    csv = httpx.get(live_server.url + "/api/v1/observatory/startup-share.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")


def test_the_dashboard_in_dutch_without_javascript(browser, live_server,  # type: ignore[no-untyped-def]
                                                   screenshot) -> None:
    context = browser.new_context(java_script_enabled=False, locale="nl-NL")
    try:
        page = context.new_page()
        page.goto(live_server.url + "/dashboard")
        expect(page.locator("html")).to_have_attribute("lang", "nl")
        expect(page.locator("figure.chart svg")).to_have_count(9)
        screenshot(page, "dashboard-nl-no-js")
    finally:
        context.close()
