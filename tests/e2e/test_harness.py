"""The end-to-end harness checks itself: axe-core finds a real violation, a screenshot is
written, the live server's Secure cookies survive plain http on loopback, and its reconciler
runs a job on the local executor."""

from __future__ import annotations

import sys

import pytest
from playwright.sync_api import Page

from tests.e2e.setup import playground_allocation, run_to_the_end

pytestmark = pytest.mark.e2e


def test_check_accessible_reports_a_violation_it_should(page: Page, check_accessible,
                                                        screenshot) -> None:
    page.set_content('<!doctype html><html lang="en"><title>t</title><main><h1>Chart</h1>'
                     '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
                     '<a href="#"></a></main></html>')
    with pytest.raises(AssertionError) as failed:
        check_accessible(page)
    message = str(failed.value)
    assert "image-alt [critical]" in message and "link-name" in message, message
    assert "dequeuniversity.com" in message  # each rule's help link
    page.set_content('<!doctype html><html lang="en"><title>t</title><main><h1>Chart</h1>'
                     '<img alt="A chart" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
                     '</main></html>')
    assert check_accessible(page)["violations"] == []
    assert screenshot(page, "harness-good-page").stat().st_size > 0


def test_secure_cookies_are_kept_over_http_on_loopback(page: Page, live_server, sign_in
                                                       ) -> None:
    # Chromium counts http://127.0.0.1 as potentially trustworthy, so it keeps the portal's
    # Secure cookies there; production serves https and keeps FABRIEK_SECURE_COOKIES=true.
    person = live_server.person("harness@e2e.example")
    sign_in(page, person)
    cookies = {c["name"]: c for c in page.context.cookies(live_server.url)}
    session = cookies["fabriek_session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"
    assert cookies["fabriek_csrf"]["secure"]
    page.goto(live_server.url + "/me")
    assert page.url.endswith("/me")


def test_the_live_server_runs_a_job_on_the_local_executor(live_server) -> None:
    """The set-up a scenario builds on: a Playground allocation through the API, then a job
    that the server's reconciler hands to the local executor and sees complete."""
    applicant = live_server.person("harness-job@e2e.example")
    with live_server.client(applicant) as fab:
        allocation_id = playground_allocation(fab, legal_name="Harness AI B.V.",
                                              registration_id="90000077")
        job = run_to_the_end(fab, {"allocation_id": allocation_id, "name": "hello", "gpus": 1,
                                   "time_limit_minutes": 2, "command": [
                                       sys.executable, "-c", "print('hello from e2e')"]})
        assert job.state.value == "completed", job.reason
        assert fab.jobs.logs(job.id)[0].strip() == "hello from e2e"
