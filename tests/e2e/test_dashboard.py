"""The public dashboard in Chromium: after a start-up's Playground job has run, an observer
(not signed in) sees the same figures as the API answers, every chart drawn without
JavaScript, and the page passes axe."""

from __future__ import annotations

import sys

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServerConfig
from tests.e2e.setup import playground_allocation, run_to_the_end

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live_server_config() -> LiveServerConfig:
    # Figures computed at each request: the page and the API must agree on fresh data.
    return LiveServerConfig(env={"FABRIEK_OBSERVATORY_CACHE_SECONDS": "0"})


def _run_a_playground_job(live_server) -> None:  # type: ignore[no-untyped-def]
    applicant = live_server.person("observed@e2e.example")
    with live_server.client(applicant) as fab:
        allocation_id = playground_allocation(fab, legal_name="Observed AI B.V.",
                                              registration_id="90000123")
        job = run_to_the_end(fab, {"allocation_id": allocation_id, "name": "observed",
                                   "gpus": 2, "time_limit_minutes": 2, "command": [
                                       sys.executable, "-c", "import time; time.sleep(1)"]})
        assert job.state.value == "completed", job.reason


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
        # The charts' own words are Dutch too, not only the page around them.
        expect(page.locator("figure.chart svg > title").first).to_have_text(
            "Tijd van aanvraag tot eerste draaiende taak")
        screenshot(page, "dashboard-nl-no-js")
    finally:
        context.close()
