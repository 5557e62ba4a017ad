"""A start-up's first day, in Chromium against a real server: it signs up, registers its
organisation (eligible, classed a start-up, explained as the facts are typed), applies for
Playground through the wizard with the AI Act self-assessment, is accepted at once, runs a small
job on the local executor, watches it finish in the job page's live view, and sees the
allocation's usage bar move. Every page is checked with axe-core and kept as a screenshot."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.builders import MINIMAL_RISK_ANSWERS

pytestmark = pytest.mark.e2e

PASSWORD = "a long enough e2e password"
# The job prints, sleeps about three seconds, prints again: long enough to be seen running.
SCRIPT = 'echo "training started on GPU $CUDA_VISIBLE_DEVICES"\nsleep 3\necho "training done"\n'


def _founded_two_years_ago() -> str:
    today = date.today()
    return today.replace(year=today.year - 2, day=1).isoformat()


def _page_ok(page: Page, heading: str | re.Pattern[str], check_accessible: Callable[..., Any],
             screenshot: Callable[[Page, str], Any], name: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    check_accessible(page)
    screenshot(page, name)


def test_a_start_up_applies_runs_a_job_and_sees_its_usage(
        page: Page, live_server: Any, check_accessible: Callable[..., Any],
        screenshot: Callable[[Page, str], Any]) -> None:
    url = live_server.url

    def ok(heading: str | re.Pattern[str], name: str) -> None:
        _page_ok(page, heading, check_accessible, screenshot, name)

    # Sign up.
    page.goto(f"{url}/sign-up")
    page.get_by_label("Your name").fill("Anna de Vries")
    page.get_by_label("E-mail address").fill("anna@lumen-vision.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("The password again").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    page.wait_for_url(f"{url}/me")
    ok("My work", "me-new-applicant")

    # Register the organisation: the explanation follows the facts as they are typed (htmx).
    page.get_by_role("link", name="Register an organisation").click()
    ok("Register an organisation", "organisation-new-empty")
    explanation = page.locator("#org-explanation")
    page.get_by_label("Legal name").fill("Lumen Vision B.V.")
    page.get_by_label("Country of establishment").select_option("NL")
    expect(explanation).to_contain_text("Eligible.")
    expect(explanation).to_contain_text("NL qualifies as: EU member state")
    page.get_by_label("Registration number").fill("KVK-81234567")
    page.get_by_label("Enterprise (start-up, SME or large company)").check()
    page.get_by_label("Founding date").fill(_founded_two_years_ago())
    page.get_by_label("Staff (annual work units)").fill("8")
    page.get_by_label("Annual turnover (euro)").fill("900000")
    page.get_by_label("Balance sheet total (euro)").fill("600000")
    page.get_by_label("Balance sheet total (euro)").press("Tab")
    expect(explanation).to_contain_text("start-up")
    expect(explanation).to_contain_text("micro enterprise")
    expect(explanation).to_contain_text("an SME founded 2 year(s) ago")
    ok("Register an organisation", "organisation-new-explained")
    expect(page.get_by_label("I vouch, as the organisation's administrator")).to_be_checked()
    page.get_by_role("button", name="Register the organisation").click()
    page.wait_for_url(re.compile(r"/organisations/\d+"))
    expect(page.locator("p.notice[role=status]")).to_contain_text("The organisation is registered")
    ok("Lumen Vision B.V.", "organisation-page")

    # Step 1 of the wizard: the mode is suggested from the request as it is typed.
    page.get_by_role("link", name="Apply for compute").click()
    ok("Apply for compute for Lumen Vision B.V.", "wizard-1-empty")
    page.get_by_label("Title").fill("Defect detection for Dutch production lines")
    page.get_by_label("Abstract").fill("We fine-tune an open vision model to spot defects.")
    page.get_by_label("Sector").select_option("manufacturing")
    page.get_by_label("The AI system or model the compute is for").fill(
        "A defect-detection assistant for human inspectors")
    page.get_by_label("Dutch", exact=True).check()
    page.get_by_label("GPU-hours").fill("10")
    page.get_by_label("GPU-hours").press("Tab")
    choice = page.locator("#mode-choice")
    expect(choice).to_contain_text("Suggested: Playground.")
    expect(page.locator("#mode-playground")).to_be_checked()
    page.get_by_label("We sign the platform's declaration", exact=False).check()
    page.get_by_label("Signed by (name and function)").fill("Anna de Vries, CEO")
    page.get_by_label("The compute is for civilian use only").check()
    ok("Apply for compute for Lumen Vision B.V.", "wizard-1-filled")
    page.get_by_role("button", name="Save the draft and continue").click()
    page.wait_for_url(re.compile(r"/proposals/\d+/self-assessment"))

    # Step 2: the AI Act self-assessment, one question after another.
    ok("AI Act self-assessment for Defect detection for Dutch production lines",
       "wizard-2-first-question")
    for question, answer in MINIMAL_RISK_ANSWERS.items():
        for option in answer if isinstance(answer, list) else [answer]:
            page.locator(f"#q-{question}-{option}").check()
        page.get_by_role("button", name=re.compile("Next question|Update the outcome")).click()
        page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Outcome")).to_be_visible()
    ok("AI Act self-assessment for Defect detection for Dutch production lines",
       "wizard-2-outcome")
    page.get_by_role("button", name="Attach this self-assessment to the proposal").click()
    page.wait_for_url(re.compile(r"/proposals/\d+/referral"))

    # Step 3: the referral, each score explained, then submission.
    expect(page.locator(".rankings")).to_contain_text("How the score of")
    expect(page.locator(".checklist")).to_contain_text("The AI Act self-assessment is attached.")
    ok("Referral and submission of Defect detection for Dutch production lines",
       "wizard-3-referral")
    page.get_by_role("button", name="Submit the proposal for Playground").click()
    page.wait_for_url(re.compile(r"/proposals/\d+\?notice=submitted"))
    expect(page.locator(".badge").first).to_have_text("accepted")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Accepted")
    expect(timeline).to_contain_text("all admission checks passed; decided automatically")
    expect(timeline).to_contain_text("Allocation made")
    ok("Defect detection for Dutch production lines", "proposal-accepted")

    # The allocation, then a job on it.
    page.get_by_role("link", name=re.compile(r"Allocation \d+: usage and jobs")).click()
    page.wait_for_url(re.compile(r"/allocations/\d+$"))
    allocation_url = page.url
    expect(page.locator("#usage-bar")).to_have_attribute("value", "0.0")
    ok(re.compile(r"Allocation \d+"), "allocation-before")
    page.get_by_role("link", name="Submit a job").click()
    ok(re.compile(r"Submit a job on allocation \d+"), "job-new")
    page.get_by_label("Name", exact=True).fill("first-training")
    page.get_by_role("textbox", name=re.compile("^Script")).fill(SCRIPT)
    page.get_by_label("GPUs (for the whole job)").fill("1")
    page.get_by_label("Time limit (minutes)").fill("5")
    page.get_by_label("Model tag").fill("lumen-defects-v1")
    page.get_by_role("button", name="Submit the job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+"))
    ok("Job first-training", "job-submitted")

    # The live view polls every 2 s: the job runs and finishes without a reload.
    live = page.locator("#job-live")
    expect(live.locator(".job-state")).to_contain_text("running", timeout=30_000)
    expect(live.locator("pre.log").first).to_contain_text("training started", timeout=10_000)
    screenshot(page, "job-running")
    expect(live.locator(".job-state")).to_contain_text("completed", timeout=30_000)
    expect(live.locator("pre.log").first).to_contain_text("training done")
    expect(live.locator("dl")).to_contain_text(re.compile(r"Exit code\s*0"))
    expect(page.get_by_role("button", name="Cancel the job")).to_have_count(0)
    check_accessible(page)
    screenshot(page, "job-completed")

    # The usage bar has moved.
    page.goto(allocation_url)
    used = float(page.locator("#usage-bar").get_attribute("value") or 0)
    assert used > 0
    expect(page.locator("table").filter(has_text="first-training")).to_contain_text("completed")
    ok(re.compile(r"Allocation \d+"), "allocation-after")
    page.goto(f"{url}/me")
    expect(page.locator("#my-jobs ~ table, section[aria-labelledby=my-jobs] table")
           .first).to_contain_text("first-training")
    ok("My work", "me-with-work")


def test_forms_explain_mistakes_work_without_javascript_and_speak_dutch(
        page: Page, new_context: Callable[..., Any], live_server: Any,
        sign_in: Callable[..., None], check_accessible: Callable[..., Any],
        screenshot: Callable[[Page, str], Any]) -> None:
    url = live_server.url
    bram = live_server.person("bram@uni-lab.example")

    # Without JavaScript: "Check eligibility" re-renders the form with the explanation.
    plain = new_context(java_script_enabled=False).new_page()
    sign_in(plain, bram)
    plain.goto(f"{url}/organisations/new")
    plain.get_by_label("Country of establishment").select_option("CH")
    plain.get_by_label("Research organisation or university").check()
    plain.get_by_role("button", name="Check eligibility").click()
    plain.wait_for_load_state()
    expect(plain.locator("#org-explanation")).to_contain_text("Eligible.")
    expect(plain.locator("#org-explanation")).to_contain_text(
        "research organisation or university")
    screenshot(plain, "no-js-organisation-checked")
    plain.get_by_role("button", name="Register the organisation").click()  # no legal name
    expect(plain.locator("#form-errors")).to_be_visible()
    expect(plain.locator("#legal_name-error")).to_be_visible()
    screenshot(plain, "no-js-organisation-errors")
    plain.get_by_label("Legal name").fill("Uni Lab Zürich")
    plain.get_by_label("Registration number").fill("CHE-100.200.300")
    plain.get_by_role("button", name="Register the organisation").click()
    plain.wait_for_url(re.compile(r"/organisations/\d+"))
    org_id = int(re.search(r"/organisations/(\d+)", plain.url).group(1))  # type: ignore[union-attr]
    plain.context.close()

    # With JavaScript: mistakes in the wizard are listed and tied to their fields.
    sign_in(page, bram)
    page.goto(f"{url}/proposals/new?organisation={org_id}")
    page.get_by_role("button", name="Save the draft and continue").click()
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    _page_ok(page, "Apply for compute for Uni Lab Zürich", check_accessible, screenshot,
             "wizard-1-errors")
    page.get_by_label("Title").fill("Protein language models")
    page.get_by_label("Abstract").fill("We pre-train a protein language model.")
    page.get_by_label("Sector").select_option("health")
    page.get_by_label("The AI system or model the compute is for").fill("A research model")
    page.get_by_label("GPU-hours").fill("20000")
    page.get_by_label("Duration (months)").fill("6")
    page.get_by_label("Duration (months)").press("Tab")
    expect(page.locator("#mode-choice")).to_contain_text(
        "Suggested: AI for Science and Collaborative EU Projects.")
    page.get_by_label("Our organisation endorses the EU AI Pact").check()
    page.get_by_label("Signed by (name and function)").fill("Bram Jansen, PI")
    page.get_by_label("The compute is for civilian use only").check()
    page.get_by_role("button", name="Save the draft and continue").click()
    page.wait_for_url(re.compile(r"/proposals/\d+/self-assessment"))
    proposal_url = page.url.split("/self-assessment")[0]

    # The self-assessment in Dutch: the tree's own Dutch text.
    page.get_by_role("link", name="Nederlands").click()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator("fieldset.question legend").first).to_have_text(
        "Beoordeelt u een AI-systeem of een AI-model voor algemene doeleinden?")
    check_accessible(page)
    screenshot(page, "wizard-2-nl")
    page.get_by_role("link", name="English").click()

    # The draft's page: resume links, and withdrawing needs a reason.
    page.goto(proposal_url)
    expect(page.get_by_role("heading", name="This is a draft")).to_be_visible()
    page.get_by_label("Why you withdraw the proposal").fill("no")
    page.get_by_role("button", name="Withdraw the proposal").click()
    expect(page.locator("#withdraw-reason-error")).to_be_visible()
    _page_ok(page, "Protein language models", check_accessible, screenshot,
             "proposal-withdraw-error")
    page.get_by_label("Why you withdraw the proposal").fill("We found compute elsewhere.")
    page.get_by_role("button", name="Withdraw the proposal").click()
    expect(page.locator("ol.timeline")).to_contain_text("Withdrawn")
    expect(page.locator("ol.timeline")).to_contain_text("We found compute elsewhere.")
    _page_ok(page, "Protein language models", check_accessible, screenshot,
             "proposal-withdrawn")
