"""The end-to-end harness checks itself: axe-core finds a real violation, a screenshot is
written, the live server's Secure cookies survive plain http on loopback, and its reconciler
runs a job on the local executor."""

from __future__ import annotations

import sys
import time
from datetime import date

import pytest
from playwright.sync_api import Page

from fabriek.cli.demo import DEMO_AI_ACT_ANSWERS

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
    today = date.today()
    with live_server.client(applicant) as fab:
        org = fab.organisations.register({
            "legal_name": "Harness AI B.V.", "country": "NL", "registration_id": "90000077",
            "kind": "enterprise", "founded_on": today.replace(year=today.year - 2, day=1),
            "headcount": 5, "turnover_eur": "100000", "balance_sheet_eur": "100000"},
            vouch=True)
        draft = fab.proposals.create({
            "organisation_id": org.id, "mode": "playground", "title": "Harness check",
            "abstract": "Runs one small job to show the end-to-end server works as set up.",
            "sector": "language", "gpu_hours": 100, "duration_months": 1, "start_on": today,
            "intended_system": "A test of the test harness; nothing is placed on the market.",
            "civilian_use": True, "ethics_commitment": "platform-declaration",
            "ethics_signed_by": "Harness"})
        assessment = fab.request("POST", "/act/assessments", json={
            "organisation_id": org.id, "lang": "en", "answers": DEMO_AI_ACT_ANSWERS})
        fab.request("PUT", f"/proposals/{draft.id}/self-assessment",
                    json={"assessment_id": assessment["id"]})
        decided = fab.proposals.submit(draft.id)
        assert decided.state.value == "accepted", decided
        job = fab.jobs.submit({"allocation_id": decided.allocation_ids[0], "name": "hello",
                               "gpus": 1, "time_limit_minutes": 2,
                               "command": [sys.executable, "-c", "print('hello from e2e')"]})
        deadline = time.monotonic() + 60
        while (job := fab.jobs.get(job.id)).state.value not in ("completed", "failed",
                                                                 "cancelled", "timeout"):
            assert time.monotonic() < deadline, f"job still {job.state.value}"
            time.sleep(0.2)
        assert job.state.value == "completed", job.reason
        assert fab.jobs.logs(job.id)[0].strip() == "hello from e2e"
