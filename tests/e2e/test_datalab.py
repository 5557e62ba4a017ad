"""The data labs in Chromium: an applicant finds a dataset in the catalogue and requests
access for their allocation (a mistake first, explained), the data steward approves it with
reasons, the applicant sees the grant, a job gets the dataset staged next to it, and the
steward reads that in the dataset's read log. Every page is checked with axe-core and kept as
a screenshot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from fabriek.identity.enums import Role
from tests.datalab.conftest import dataset_body
from tests.e2e.setup import FINAL, playground_allocation

pytestmark = pytest.mark.e2e
CSV = b"hour,heart_rate\n0,72\n1,75\n"


@pytest.fixture
def steward_api(live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    steward = live_server.person("steward@umc.e2e.example", Role.data_steward,
                                 name="Sam Steward")
    with httpx.Client(base_url=f"{live_server.url}/api/v1/datalab", headers=steward.headers,
                      timeout=30) as client:
        yield steward, client


def _publish(client: httpx.Client) -> None:
    r = client.post("/datasets", json=dataset_body("icu-vitals-e2e"))
    assert r.status_code == 201, r.text
    r = client.post("/datasets/icu-vitals-e2e/distributions",
                    params={"file_name": "vitals.csv"}, content=CSV,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text


def _notice(page: Page, text: str) -> None:
    expect(page.locator("p.notice")).to_contain_text(text)


def _sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name="Sign out").click()


def test_an_applicant_requests_access_the_steward_approves_and_a_job_gets_the_data(
        page: Page, live_server, steward_api, sign_in, check_accessible, screenshot) -> None:
    steward, stewards = steward_api
    _publish(stewards)
    applicant = live_server.person("anna@lumen.e2e.example")
    with live_server.client(applicant) as fab:
        allocation_id = playground_allocation(fab, legal_name="Lumen Health B.V.",
                                              registration_id="KVK-E2E-DATA")

    # The applicant finds the dataset through the catalogue's search.
    sign_in(page, applicant, next="/data")
    expect(page.get_by_role("heading", level=1)).to_have_text("Data labs")
    check_accessible(page)
    screenshot(page, "catalogue")
    page.get_by_label("Words in the title, description or keywords").fill("vital signs")
    page.get_by_label("Data space").select_option("health")
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    results = page.get_by_role("table", name="Datasets matching your search, oldest first")
    expect(results).to_contain_text("ICU vital signs, anonymised")
    check_accessible(page)
    screenshot(page, "catalogue-search")
    page.get_by_role("link", name="ICU vital signs, anonymised").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ICU vital signs, anonymised")
    expect(page.get_by_role("table", name="The dataset's files (distributions), with their "
                                          "SHA-256 checksums")).to_contain_text("vitals.csv")
    check_accessible(page)
    screenshot(page, "dataset")

    # A purpose too short comes back explained, with what was typed kept.
    expect(page.get_by_label("Project")).to_have_value(str(allocation_id))
    page.get_by_label("Purpose").fill("ML")
    with page.expect_navigation():
        page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_role("alert").first).to_contain_text("Purpose")
    check_accessible(page)
    screenshot(page, "request-mistake")
    page.get_by_label("Purpose").fill("Train a sepsis early-warning model for Dutch ICUs.")
    with page.expect_navigation():
        page.get_by_role("button", name="Send the request").click()
    _notice(page, "Your request is sent")
    expect(page.get_by_role("table", name="Requests of my organisations for this dataset")
           ).to_contain_text("pending")
    check_accessible(page)
    screenshot(page, "request-sent")
    _sign_out(page)

    # The steward decides, with reasons.
    sign_in(page, steward, next="/steward")
    expect(page.get_by_role("heading", level=1)).to_have_text("Data stewardship")
    expect(page.get_by_text("Train a sepsis early-warning model for Dutch ICUs.")
           ).to_be_visible()
    check_accessible(page)
    screenshot(page, "steward-queue")
    page.get_by_label("Approve: grant access").check()
    page.get_by_label("Reasons (the applicant sees them)").fill(
        "A clear purpose within the dataset's terms.")
    with page.expect_navigation():
        page.get_by_role("button", name="Record the decision on request").click()
    _notice(page, "The decision is recorded")
    expect(page.get_by_text("No requests wait for a decision.")).to_be_visible()
    check_accessible(page)
    screenshot(page, "steward-decided")
    _sign_out(page)

    # The applicant sees the grant, and a job that names the dataset gets it next to it.
    sign_in(page, applicant, next="/me")
    grants = page.get_by_role("table", name="Grants of my organisations, newest first")
    expect(grants).to_contain_text("icu-vitals-e2e")
    expect(grants).to_contain_text("valid")
    expect(page.get_by_text("A clear purpose within the dataset's terms.")).to_be_visible()
    check_accessible(page)
    screenshot(page, "me-with-grant")
    with live_server.client(applicant) as fab:
        job = fab.jobs.submit({
            "allocation_id": allocation_id, "name": "read-vitals", "gpus": 0,
            "time_limit_minutes": 5, "datasets": ["icu-vitals-e2e"],
            "command": ["cat", "datasets/icu-vitals-e2e/vitals.csv"]})
        deadline = time.monotonic() + 60
        while (job := fab.jobs.get(job.id)).state.value not in FINAL:
            assert time.monotonic() < deadline, f"job still {job.state.value}"
            time.sleep(0.2)
        assert job.state.value == "completed", job
    page.goto(f"{live_server.url}/jobs/{job.id}")
    expect(page.locator("pre.log").first).to_contain_text("0,72")
    _sign_out(page)

    # The steward sees the staging in the dataset's read log.
    sign_in(page, steward, next="/steward/datasets/icu-vitals-e2e/reads")
    log = page.get_by_role("table", name="Reads, oldest first")
    expect(log).to_contain_text("anna@lumen.e2e.example")
    expect(log).to_contain_text("staged next to a job")
    expect(log).to_contain_text("Train a sepsis early-warning model for Dutch ICUs.")
    check_accessible(page)
    screenshot(page, "steward-read-log")
