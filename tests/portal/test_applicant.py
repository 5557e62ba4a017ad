"""The applicant's pages: /me, organisations, the proposal wizard, the proposal page with its
timeline, allocations and jobs — happy paths, bad input, and isolation between organisations."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fabriek.access.models import Proposal
from fabriek.access.service import AccessConfig
from fabriek.api.app import create_app
from fabriek.compliance.models import ActAssessment, ProposalAssessment
from fabriek.compute.executors.local import LocalExecutor
from fabriek.compute.models import Job
from fabriek.compute.reconciler import Reconciler
from fabriek.compute.registry import Executors
from fabriek.db.session import Database
from fabriek.federation.domain import CapacityBasis, ExecutorKind, PartitionProfile
from fabriek.identity.enums import Role
from fabriek.identity.models import Membership, Organisation
from fabriek.settings import Settings
from tests import builders
from tests.api import helpers as api
from tests.conftest import Person
from tests.portal.helpers import post_form, signed_in_client, text_of

pytestmark = pytest.mark.integration

Browser = Callable[[Person], TestClient]
TWO_YEARS_AGO = date.today().replace(year=date.today().year - 2, day=1)
ORG = {"legal_name": "Lumen Vision B.V.", "country": "NL", "registration_id": "KVK-81234567",
       "kind": "enterprise", "founded_on": TWO_YEARS_AGO.isoformat(), "headcount": "12",
       "turnover_eur": "1200000", "balance_sheet_eur": "800000", "vouch": "on"}
PROPOSAL = {"title": "Dutch vision-language model for quality inspection",
            "abstract": "We adapt an open 7B model to detect defects on production lines.",
            "sector": "manufacturing", "gpu_hours": "2000", "gpu_model": "H100",
            "gpu_memory_gb": "80", "duration_months": "2", "storage_tb": "0",
            "inference_percent": "0", "intended_system": "A defect-detection assistant",
            "ethics_commitment": "platform-declaration", "ethics_signed_by": "Anna de Vries",
            "civilian_use": "on", "languages": ["nl", "en"]}
ANSWERS = {f"q.{k}": v for k, v in builders.MINIMAL_RISK_ANSWERS.items()}


def _count(database: Database, model: Any) -> int:
    with database.session(readonly=True) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _id_in(location: str) -> int:
    return int(re.search(r"/(\d+)", location).group(1))  # type: ignore[union-attr]


def _register(client: TestClient, **over: str | None) -> int:
    """Register through the form; a field given as None is left out (an unticked box)."""
    data = {k: v for k, v in {**ORG, "action": "register", **over}.items() if v is not None}
    r = post_form(client, "/organisations/new", data)
    assert r.status_code == 303, text_of(r)
    return _id_in(r.headers["location"])


def _draft(client: TestClient, org_id: int, **over: Any) -> int:
    data = {**PROPOSAL, "start_on": date.today().isoformat(), "mode": "playground",
            "action": "save", **over}
    r = post_form(client, f"/proposals/new?organisation={org_id}", data)
    assert r.status_code == 303, text_of(r)
    assert "/self-assessment" in r.headers["location"]
    return _id_in(r.headers["location"])


def _assess(client: TestClient, proposal_id: int) -> None:
    r = post_form(client, f"/proposals/{proposal_id}/self-assessment",
                  {**ANSWERS, "action": "save"})
    assert r.status_code == 303, text_of(r)
    assert r.headers["location"].startswith(f"/proposals/{proposal_id}/referral")


def _accepted(client: TestClient, org_id: int) -> tuple[int, int]:
    """A Playground proposal through the wizard, accepted; (proposal id, allocation id)."""
    proposal_id = _draft(client, org_id)
    _assess(client, proposal_id)
    assert post_form(client, f"/proposals/{proposal_id}/submit").status_code == 303
    page = client.get(f"/proposals/{proposal_id}")
    allocation = re.search(r'href="/allocations/(\d+)"', page.text)
    assert allocation, text_of(page)
    return proposal_id, int(allocation.group(1))


def _job(client: TestClient, allocation_id: int, **over: str) -> int:
    data = {"name": "hello", "run_as": "script", "script": "echo hello from the job\n",
            "gpus": "1", "nodes": "1", "time_limit_minutes": "5", **over}
    r = post_form(client, f"/allocations/{allocation_id}/jobs/new", data)
    assert r.status_code == 303, text_of(r)
    return _id_in(r.headers["location"])


def _until_final(client: TestClient, reconciler: Reconciler, job_id: int,
                 timeout: float = 30) -> str:
    """Reconciler passes until the job's live view says it is final (HTTP 286)."""
    deadline = time.monotonic() + timeout
    while True:
        reconciler.run_once()
        r = client.get(f"/jobs/{job_id}/live")
        if r.status_code == 286:
            return text_of(r)
        assert r.status_code == 200, text_of(r)
        assert time.monotonic() < deadline, text_of(r)
        time.sleep(0.1)


@pytest.fixture
def ada(make_person: Callable[..., Person]) -> Person:
    return make_person("ada@lumen.example", Role.applicant)


@pytest.fixture
def eve(make_person: Callable[..., Person]) -> Person:
    return make_person("eve@other.example", Role.applicant)


# --- /me and organisations -----------------------------------------------------------------


def test_me_without_organisations_points_to_registration(browser_for: Browser, ada: Person
                                                         ) -> None:
    page = text_of(browser_for(ada).get("/me"))
    assert "My organisations" in page and "Register an organisation" in page
    assert "No proposals yet" in page


def test_check_explains_eligibility_and_start_up_class_without_writing(
        browser_for: Browser, ada: Person, database: Database) -> None:
    client = browser_for(ada)
    r = post_form(client, "/organisations/new", {**ORG, "action": "check"})
    page = text_of(r)
    assert r.status_code == 200
    assert "Eligible." in page and "NL qualifies as: EU member state" in page
    assert "start-up" in page and "SME" in page and "small enterprise" in page
    assert "an SME founded 2 year(s) ago" in page
    assert 'value="Lumen Vision B.V."' in r.text  # what was typed is kept
    r = post_form(client, "/organisations/new", {**ORG, "country": "US", "headcount": "900",
                                                 "action": "check"})
    page = text_of(r)
    assert "Not eligible." in page and "large enterprise" in page
    assert _count(database, Organisation) == 0


def test_the_explanation_fragment_follows_the_fields(browser_for: Browser, ada: Person) -> None:
    client = browser_for(ada)
    r = client.get("/organisations/explain", params={"country": "ch", "kind": "research"})
    assert r.status_code == 200 and "<html" not in r.text
    assert "Eligible." in text_of(r) and "research organisation or university" in text_of(r)
    half_typed = client.get("/organisations/explain", params={
        "country": "", "kind": "enterprise", "headcount": "12x"})
    assert "Choose the country" in text_of(half_typed)
    assert "treated as a large enterprise until given" in text_of(half_typed)


def test_register_an_organisation_and_see_it(browser_for: Browser, ada: Person) -> None:
    client = browser_for(ada)
    org_id = _register(client)
    page = text_of(client.get(f"/organisations/{org_id}?notice=organisation-registered"))
    assert "The organisation is registered" in page
    assert "KVK-81234567" in page and "vouched" in page and "ada@lumen.example" in page
    assert "start-up" in page
    me = text_of(client.get("/me"))
    assert "Lumen Vision B.V." in me and "facts vouched for" in me


def test_bad_organisation_input_is_explained_per_field_and_writes_nothing(
        browser_for: Browser, ada: Person, database: Database) -> None:
    client = browser_for(ada)
    r = post_form(client, "/organisations/new", {**ORG, "legal_name": "", "country": "QQ",
                                                 "headcount": "-3", "action": "register"})
    assert r.status_code == 400
    assert 'role="alert"' in r.text
    for field in ("legal_name", "country", "headcount"):
        assert f'id="{field}-error"' in r.text, field
        assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error', r.text)
    assert "is not an ISO 3166-1 alpha-2 country code" in text_of(r)
    assert _count(database, Organisation) == 0
    _register(client)
    again = post_form(client, "/organisations/new", {**ORG, "action": "register"})
    assert again.status_code == 409 and "already registered" in text_of(again)
    assert _count(database, Organisation) == 1


def test_admin_adds_a_member_and_vouches(browser_for: Browser, ada: Person, eve: Person,
                                         make_person: Callable[..., Person],
                                         database: Database) -> None:
    client = browser_for(ada)
    org_id = _register(client, vouch=None)
    assert "not vouched" in text_of(client.get(f"/organisations/{org_id}"))
    r = post_form(client, f"/organisations/{org_id}/vouch")
    assert r.status_code == 303
    assert "not vouched" not in text_of(client.get(f"/organisations/{org_id}"))

    r = post_form(client, f"/organisations/{org_id}/members", {"email": "nobody@x.example"})
    assert r.status_code == 404 and "no user with e-mail" in text_of(r)
    r = post_form(client, f"/organisations/{org_id}/members", {"email": "not an address"})
    assert r.status_code == 400 and 'id="email-error"' in r.text
    assert _count(database, Membership) == 1
    r = post_form(client, f"/organisations/{org_id}/members", {"email": eve.email})
    assert r.status_code == 303
    assert eve.email in text_of(client.get(f"/organisations/{org_id}"))

    # A plain member sees the organisation but may neither add members nor vouch.
    member = browser_for(eve)
    page = member.get(f"/organisations/{org_id}")
    assert page.status_code == 200 and "Add a member" not in text_of(page)
    carl = make_person("carl@x.example")
    r = post_form(member, f"/organisations/{org_id}/members", {"email": carl.email})
    assert r.status_code == 403 and "only an admin" in text_of(r)
    assert post_form(member, f"/organisations/{org_id}/vouch").status_code == 403
    assert _count(database, Membership) == 2


# --- the wizard ------------------------------------------------------------------------------


def test_the_mode_suggested_follows_the_request_and_the_organisation(
        browser_for: Browser, ada: Person) -> None:
    client = browser_for(ada)
    org_id = _register(client)
    form = client.get(f"/proposals/new?organisation={org_id}")
    assert form.status_code == 200
    assert "Give the GPU-hours you need to see which modes fit" in form.text
    for label in ("Playground", "Fast Lane", "Large Scale"):
        assert label in form.text
    assert "Strategic direct allocation" not in form.text  # not applied for

    r = post_form(client, f"/proposals/new?organisation={org_id}",
                  {**PROPOSAL, "gpu_hours": "2000", "action": "suggest"})
    assert "Suggested: Playground." in text_of(r)
    assert re.search(r'id="mode-playground"[^>]*checked', r.text)
    r = client.get("/proposals/mode-suggestion", params={
        "organisation": org_id, "gpu_hours": "40000", "duration_months": "3"})
    assert "Suggested: Fast Lane." in text_of(r) and "<html" not in r.text
    assert "Playground takes requests of 1 to 5,000 GPU-hours" in text_of(r)
    r = client.get("/proposals/mode-suggestion", params={
        "organisation": org_id, "gpu_hours": "2000", "duration_months": "12"})
    assert "Suggested" not in text_of(r) and "No access mode fits" in text_of(r)

    research = _register(client, legal_name="Uni Lab", registration_id="U-1", kind="research")
    r = client.get("/proposals/mode-suggestion", params={
        "organisation": research, "gpu_hours": "20000", "duration_months": "6"})
    assert "Suggested: AI for Science" in text_of(r)


def test_a_draft_through_the_wizard_to_acceptance(browser_for: Browser, ada: Person,
                                                  database: Database) -> None:
    client = browser_for(ada)
    org_id = _register(client)
    proposal_id = _draft(client, org_id)
    # Resume: the draft's values are in the form again, and it can be changed.
    edit = client.get(f"/proposals/{proposal_id}/edit")
    assert 'value="2000"' in edit.text and "Anna de Vries" in edit.text
    r = post_form(client, f"/proposals/{proposal_id}/edit",
                  {**PROPOSAL, "gpu_hours": "1500", "gpu_model": "", "mode": "playground",
                   "start_on": date.today().isoformat(), "action": "save"})
    assert r.status_code == 303
    with database.session(readonly=True) as s:
        draft = s.get(Proposal, proposal_id)
        assert (draft.gpu_hours, draft.gpu_model, draft.languages) == (1500, None, ["nl", "en"])

    # The self-assessment, question by question.
    step = client.get(f"/proposals/{proposal_id}/self-assessment")
    assert "Are you assessing an AI system" in text_of(step) and "Outcome" not in text_of(step)
    r = post_form(client, f"/proposals/{proposal_id}/self-assessment",
                  {"q.kind": "system", "action": "continue"})
    assert "machine-based system" in text_of(r) and 'name="q.kind" value="system" checked' in r.text
    r = post_form(client, f"/proposals/{proposal_id}/self-assessment",
                  {**ANSWERS, "action": "continue"})
    assert "Outcome" in text_of(r) and "Attach this self-assessment" in text_of(r)
    _assess(client, proposal_id)
    assert _count(database, ProposalAssessment) == 1

    referral = client.get(f"/proposals/{proposal_id}/referral")
    page = text_of(referral)
    assert referral.status_code == 200
    assert "1. " in page and "How the score of" in page and "Score" in page
    assert "cannot take this request" in page  # the catalogue's unconnected factories
    assert "The AI Act self-assessment is attached." in page

    r = post_form(client, f"/proposals/{proposal_id}/submit")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/proposals/{proposal_id}")
    page = text_of(client.get(f"/proposals/{proposal_id}"))
    assert "accepted" in page and "Status timeline" in page
    for step_name in ("Draft created", "Draft changed", "AI Act self-assessment attached",
                      "Submitted; admission checks ran", "Accepted", "Allocation made"):
        assert step_name in page, step_name
    assert "all admission checks passed; decided automatically" in page
    assert "No category of the AI Act applies" in page or "minimal" in page.lower()
    # A submitted proposal is no longer a draft: the wizard sends back to its page.
    assert client.get(f"/proposals/{proposal_id}/edit",
                      follow_redirects=False).headers["location"] == f"/proposals/{proposal_id}"


def test_bad_proposal_input_is_explained_and_nothing_is_drafted(
        browser_for: Browser, ada: Person, database: Database) -> None:
    client = browser_for(ada)
    org_id = _register(client)
    r = post_form(client, f"/proposals/new?organisation={org_id}", {
        **PROPOSAL, "title": "", "gpu_hours": "0", "start_on": date.today().isoformat(),
        "action": "save"})
    assert r.status_code == 400
    assert 'id="title-error"' in r.text and 'id="gpu_hours-error"' in r.text
    assert 'id="mode-error"' in r.text
    assert 'value="Dutch vision-language model' not in r.text  # the empty title stays empty
    assert "We adapt an open 7B model" in r.text  # the rest of what was typed is kept
    r = post_form(client, f"/proposals/new?organisation={org_id}", {
        **PROPOSAL, "mode": "playground", "start_on": date.today().isoformat(),
        "ethics_signed_by": "", "action": "save"})
    assert r.status_code == 400
    assert "an ethics commitment and the name of who signed it go together" in text_of(r)
    r = post_form(client, f"/proposals/new?organisation={org_id}", {
        **PROPOSAL, "mode": "emergency", "start_on": date.today().isoformat(),
        "action": "save"})
    assert r.status_code == 422 and "allocated directly by an access officer" in text_of(r)
    assert _count(database, Proposal) == 0


def test_self_assessment_drops_answers_off_a_changed_path_and_refuses_bad_ones(
        browser_for: Browser, ada: Person, database: Database) -> None:
    client = browser_for(ada)
    proposal_id = _draft(client, _register(client))
    # Choosing a general-purpose model leads elsewhere: the system branch's answers go.
    r = post_form(client, f"/proposals/{proposal_id}/self-assessment",
                  {**ANSWERS, "q.kind": "gpai-model", "action": "continue"})
    assert r.status_code == 200 and 'name="q.definition"' not in r.text
    r = post_form(client, f"/proposals/{proposal_id}/self-assessment",
                  {"q.kind": "robot", "action": "save"})
    assert r.status_code == 400 and "is not one of its options" in text_of(r)
    r = post_form(client, f"/proposals/{proposal_id}/self-assessment",
                  {"q.kind": "system", "action": "save"})
    assert r.status_code == 400 and "needs an answer" in text_of(r)
    assert _count(database, ActAssessment) == 0


def test_a_prohibited_practice_is_shown_and_refused_at_submission(
        browser_for: Browser, ada: Person) -> None:
    client = browser_for(ada)
    proposal_id = _draft(client, _register(client))
    answers = {**ANSWERS, "q.prohibited": "social-scoring"}
    r = post_form(client, f"/proposals/{proposal_id}/self-assessment",
                  {**answers, "action": "continue"})
    assert "A prohibited practice" in text_of(r) and "Article 5(1)(c)" in text_of(r)
    post_form(client, f"/proposals/{proposal_id}/self-assessment", {**answers, "action": "save"})
    post_form(client, f"/proposals/{proposal_id}/submit")
    page = text_of(client.get(f"/proposals/{proposal_id}"))
    assert "rejected" in page and "prohibited AI practice" in page
    assert "Appeal the decision" in page


def test_withdraw_and_appeal_with_reasons(browser_for: Browser, ada: Person,
                                          database: Database) -> None:
    client = browser_for(ada)
    org_id = _register(client, vouch=None)  # not vouched: the admission checks reject it
    proposal_id = _draft(client, org_id)
    _assess(client, proposal_id)
    post_form(client, f"/proposals/{proposal_id}/submit")
    page = client.get(f"/proposals/{proposal_id}")
    assert "rejected" in text_of(page) and "must vouch" in text_of(page)
    r = post_form(client, f"/proposals/{proposal_id}/appeal", {"reason": "no"})
    assert r.status_code == 400 and 'id="appeal-reason-error"' in r.text
    r = post_form(client, f"/proposals/{proposal_id}/appeal",
                  {"reason": "Our admin has vouched now."})
    assert r.status_code == 303
    page = text_of(client.get(f"/proposals/{proposal_id}"))
    assert "Appealed" in page and "Our admin has vouched now." in page
    assert "Appeal the decision" not in page  # once only

    second = _draft(client, org_id, title="Another one")
    r = post_form(client, f"/proposals/{second}/withdraw", {"reason": "Changed our plans."})
    assert r.status_code == 303
    page = text_of(client.get(f"/proposals/{second}"))
    assert "withdrawn" in page and "Changed our plans." in page
    r = post_form(client, f"/proposals/{second}/withdraw", {"reason": "Again, please."})
    assert r.status_code == 409
    with database.session(readonly=True) as s:
        assert s.get(Proposal, second).state.value == "withdrawn"


def test_the_timeline_shows_reviews_but_never_who_reviewed_or_private_notes(
        browser_for: Browser, ada: Person, officer: Person,
        make_person: Callable[..., Person]) -> None:
    client = browser_for(ada)
    org_id = _register(client)
    proposal_id = _draft(client, org_id, mode="fast-lane", gpu_hours="40000",
                         duration_months="3")
    _assess(client, proposal_id)
    post_form(client, f"/proposals/{proposal_id}/submit")
    reviewer = make_person("rita@reviewers.example", Role.reviewer)
    review = api.assign(client, officer, proposal_id, reviewer)
    api.review(client, reviewer, review["id"])
    r = client.post(f"/api/v1/proposals/{proposal_id}/decision", headers=officer.headers,
                    json={"outcome": "accept-reduced", "gpu_hours_granted": 30000,
                          "reasons": "Justified, but 30,000 GPU-hours will do."})
    assert r.status_code == 200, r.text

    page = text_of(client.get(f"/proposals/{proposal_id}"))
    assert "A reviewer was assigned" in page and "A review was submitted" in page
    assert "Ready; trim the request a little." in page  # meant for the applicant
    assert "Accepted with fewer GPU-hours" in page
    assert "Justified, but 30,000 GPU-hours will do." in page
    assert "rita@reviewers.example" not in page and "a reviewer" in page
    assert "reviewed for us before" not in page  # the private comment

    # The reviewer may see the proposal, but not the audit trail the API does not show them.
    as_reviewer = text_of(browser_for(reviewer).get(f"/proposals/{proposal_id}"))
    assert "Ready; trim" in as_reviewer and "Draft created" not in as_reviewer


# --- allocations and jobs ------------------------------------------------------------------


def test_a_job_runs_and_the_usage_bar_moves(browser_for: Browser, ada: Person,
                                            database: Database, portal_app: FastAPI,
                                            access: AccessConfig) -> None:
    client = browser_for(ada)
    _, allocation_id = _accepted(client, _register(client))
    page = client.get(f"/allocations/{allocation_id}")
    assert page.status_code == 200 and 'value="0.0"' in page.text
    assert "No jobs yet" in text_of(page)
    assert client.get(f"/allocations/{allocation_id}/jobs/new").status_code == 200

    job_id = _job(client, allocation_id, env="GREETING=hello world",
                  script='echo "$GREETING; $(id -u)"\necho err >&2\n')
    live = client.get(f"/jobs/{job_id}")
    assert 'hx-trigger="every 2s"' in live.text and "Reload to see" in live.text
    assert "waiting to be handed over" in text_of(live)
    done = _until_final(client, Reconciler(database, portal_app.state.executors, access),
                        job_id)
    assert "completed" in done and "hello world;" in done and "Exit code 0" in done
    page = client.get(f"/jobs/{job_id}")
    assert "every 2s" not in page.text and "Cancel the job" not in page.text
    assert "Standard error" in text_of(page) and "err" in text_of(page)

    bar = re.search(r'<progress id="usage-bar" max="(\d+)" value="([0-9.e-]+)"',
                    client.get(f"/allocations/{allocation_id}").text)
    assert bar and float(bar.group(2)) > 0
    me = text_of(client.get("/me"))
    assert "GPU-hours used" in me and "hello" in me


def test_bad_job_input_is_explained_and_nothing_is_queued(
        browser_for: Browser, ada: Person, database: Database) -> None:
    client = browser_for(ada)
    _, allocation_id = _accepted(client, _register(client))
    cases = [({"name": "my job"}, "name"), ({"env": "NOEQUALS"}, "env"),
             ({"env": "LD_PRELOAD=/x.so"}, "env"), ({"gpus": "3", "nodes": "2"}, None),
             ({"run_as": "command", "command": "python3 'unclosed"}, "command"),
             ({"time_limit_minutes": "0"}, "time_limit_minutes")]
    for over, field in cases:
        r = post_form(client, f"/allocations/{allocation_id}/jobs/new", {
            "name": "ok", "run_as": "script", "script": "echo hi", "gpus": "1", "nodes": "1",
            "time_limit_minutes": "5", **over})
        assert r.status_code == 400, over
        if field:
            assert f'id="{field}-error"' in r.text, (over, text_of(r))
        else:
            assert "cannot be spread evenly" in text_of(r)
    # Admission: a worst case larger than what is left is refused with the numbers.
    r = post_form(client, f"/allocations/{allocation_id}/jobs/new", {
        "name": "huge", "run_as": "command", "command": "sleep 1", "gpus": "16", "nodes": "4",
        "time_limit_minutes": str(7 * 24 * 60)})
    assert r.status_code == 422, text_of(r)
    assert "the job may use up to 2,688.00 GPU-hours" in text_of(r)
    assert _count(database, Job) == 0


def test_a_command_is_split_into_arguments_never_run_by_a_shell(
        browser_for: Browser, ada: Person, database: Database) -> None:
    client = browser_for(ada)
    _, allocation_id = _accepted(client, _register(client))
    job_id = _job(client, allocation_id, run_as="command",
                  command="""python3 -c 'print("a; b")' "$(rm -rf ~)" """)
    with database.session(readonly=True) as s:
        spec = s.get(Job, job_id).spec
    assert spec["command"] == ["python3", "-c", 'print("a; b")', "$(rm -rf ~)"]
    assert spec["script"] is None
    page = client.get(f"/jobs/{job_id}")
    assert "<code>$(rm -rf ~)</code>" in page.text


def test_cancel_a_queued_job(browser_for: Browser, ada: Person) -> None:
    client = browser_for(ada)
    _, allocation_id = _accepted(client, _register(client))
    job_id = _job(client, allocation_id)
    r = post_form(client, f"/jobs/{job_id}/cancel")
    assert r.status_code == 303
    page = client.get(f"/jobs/{job_id}?notice=cancelled")
    assert "cancelled before start" in text_of(page) and "Cancel the job" not in page.text
    again = post_form(client, f"/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in text_of(again)


KEY = ("local", "gpu")


@pytest.fixture
def small_factory(database: Database, access: AccessConfig, tmp_path: Path
                  ) -> Iterator[tuple[FastAPI, Reconciler]]:
    """The portal over one 4-GPU local node, so an emergency job must pre-empt."""
    local = LocalExecutor(tmp_path / "spool", gpu_slots=4, grace_seconds=0.5)
    executors = Executors(by_partition={KEY: local}, partitions={KEY: PartitionProfile(
        *KEY, "H100-SXM5-80GB", 80, 4, 1, CapacityBasis.operator, ExecutorKind.local)})
    app = create_app(Settings(data_dir=tmp_path), database=database, access=access,
                     executors=executors, run_reconciler=False)
    yield app, Reconciler(database, executors, access, worker_id="test")


def test_an_emergency_preemption_shows_on_the_owners_pages(
        small_factory: tuple[FastAPI, Reconciler], database: Database, ada: Person,
        officer: Person, make_person: Callable[..., Person]) -> None:
    app, reconciler = small_factory
    client = signed_in_client(app, database, ada)
    crisis = make_person("ops@crisis.example")
    try:
        org_id = _register(client)
        r = client.post("/api/v1/allocations/direct", headers=officer.headers, json={
            **builders.proposal(org_id, "strategic", gpu_hours=100, duration_months=1),
            "reasons": "strategic work"})
        assert r.status_code == 201, r.text
        allocation_id = r.json()["allocation_ids"][0]
        victim = _job(client, allocation_id, name="long-training", gpus="4",
                      script="sleep 300\n")
        for _ in range(100):
            reconciler.run_once()
            if "running" in text_of(client.get(f"/jobs/{victim}/live")):
                break
            time.sleep(0.1)
        urgent = api.org(client, crisis, legal_name="Crisis Centre", registration_id="CC-1")
        r = client.post("/api/v1/allocations/direct", headers=officer.headers, json={
            **builders.proposal(urgent, "emergency", gpu_hours=100, duration_months=1),
            "reasons": "flood forecast"})
        assert r.status_code == 201, r.text
        r = client.post("/api/v1/jobs", headers=crisis.headers, json={
            "allocation_id": r.json()["allocation_ids"][0], "name": "rescue", "gpus": 4,
            "time_limit_minutes": 60, "command": ["sleep", "300"]})
        assert r.status_code == 201, r.text
        for _ in range(150):
            reconciler.run_once()
            with database.session(readonly=True) as s:
                if s.get(Job, victim).preemptions:
                    break
            time.sleep(0.1)

        me = text_of(client.get("/me"))
        assert "Pre-empted:" in me and "long-training" in me
        allocation = text_of(client.get(f"/allocations/{allocation_id}"))
        assert "Pre-empted:" in allocation
        assert "pre-empted by a higher-priority job" in allocation
        job = text_of(client.get(f"/jobs/{victim}"))
        assert "This job was pre-empted 1 time" in job
        assert "Crisis Centre" not in me + allocation + job  # whose job it was stays theirs
    finally:
        with database.session(readonly=True) as s:
            running = s.execute(select(Job.id, Job.organisation_id)).all()
        for job_id, _ in running:
            client.post(f"/api/v1/jobs/{job_id}/cancel", headers=officer.headers)
        for _ in range(50):
            reconciler.run_once()
            with database.session(readonly=True) as s:
                if not s.execute(select(Job.id).where(Job.state.in_(
                        ("queued", "running", "pending-submit")))).first():
                    break
            time.sleep(0.1)
        client.__exit__(None, None, None)


# --- isolation ---------------------------------------------------------------------------------


def test_another_organisation_guessing_ids_sees_nothing_and_changes_nothing(
        browser_for: Browser, ada: Person, eve: Person, database: Database) -> None:
    mine = browser_for(ada)
    org_id = _register(mine)
    proposal_id, allocation_id = _accepted(mine, org_id)
    draft_id = _draft(mine, org_id, title="A secret draft")
    job_id = _job(mine, allocation_id)
    other = browser_for(eve)
    _register(other, legal_name="Other Org", registration_id="OTHER-1")
    secrets = ("Lumen Vision", "Dutch vision-language", "A secret draft", "KVK-81234567",
               "ada@lumen.example", "hello from the job")

    gets = [f"/organisations/{org_id}", f"/proposals/{proposal_id}",
            f"/proposals/{draft_id}/edit", f"/proposals/{draft_id}/self-assessment",
            f"/proposals/{draft_id}/referral", f"/proposals/new?organisation={org_id}",
            f"/proposals/mode-suggestion?organisation={org_id}&gpu_hours=10",
            f"/allocations/{allocation_id}", f"/allocations/{allocation_id}/jobs/new",
            f"/jobs/{job_id}", f"/jobs/{job_id}/live"]
    for url in gets:
        r = other.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert not any(s in r.text for s in secrets), url
    before = api.row_counts(database)
    posts: list[tuple[str, dict[str, Any]]] = [
        (f"/organisations/{org_id}/vouch", {}),
        (f"/organisations/{org_id}/members", {"email": eve.email}),
        (f"/proposals/new?organisation={org_id}", {**PROPOSAL, "mode": "playground",
                                                   "start_on": date.today().isoformat()}),
        (f"/proposals/{draft_id}/edit", {**PROPOSAL, "mode": "playground",
                                         "start_on": date.today().isoformat()}),
        (f"/proposals/{draft_id}/self-assessment", {**ANSWERS, "action": "save"}),
        (f"/proposals/{draft_id}/submit", {}),
        (f"/proposals/{draft_id}/withdraw", {"reason": "Not mine to withdraw."}),
        (f"/proposals/{proposal_id}/appeal", {"reason": "Not mine to appeal."}),
        (f"/allocations/{allocation_id}/jobs/new", {"name": "x", "run_as": "script",
                                                    "script": "echo", "gpus": "1",
                                                    "nodes": "1", "time_limit_minutes": "1"}),
        (f"/jobs/{job_id}/cancel", {}),
    ]
    for url, data in posts:
        r = post_form(other, url, data)
        assert r.status_code in (403, 404), (url, r.status_code, text_of(r)[:300])
        assert not any(s in r.text for s in secrets), url
    after = api.row_counts(database)
    changed = {t for t in before if before[t] != after[t]}
    assert changed <= {"web_sessions", "sign_in_attempts"}, changed
    me = text_of(other.get("/me"))
    assert not any(s in me for s in secrets)


def test_signed_out_visitors_are_sent_to_sign_in(anonymous: TestClient) -> None:
    for url in ("/organisations/new", "/organisations/1", "/proposals/new?organisation=1",
                "/proposals/1", "/allocations/1", "/jobs/1", "/jobs/1/live"):
        r = anonymous.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/sign-in"), url


def test_pages_speak_dutch_when_asked(browser_for: Browser, ada: Person) -> None:
    client = browser_for(ada)
    proposal_id = _draft(client, _register(client))
    client.get("/lang/nl")
    r = client.get(f"/proposals/{proposal_id}/self-assessment")
    assert '<html lang="nl">' in r.text
    assert "Beoordeelt u een AI-systeem" in r.text  # the tree's own Dutch
