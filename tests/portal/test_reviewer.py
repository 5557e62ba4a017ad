"""The reviewer's pages: the queue, a proposal as reviewers see it, scores per criterion,
comments, the conflict of interest, and who may not see any of it."""

from __future__ import annotations

import re

import pytest

from fabriek.access.enums import ReviewState
from fabriek.db.session import Database
from fabriek.identity.enums import Role
from tests.api import helpers as api
from tests.portal.helpers import post_form
from tests.portal.staff_helpers import (
    fast_lane_in_review,
    page_text,
    review_row,
    reviews_of,
)

pytestmark = pytest.mark.integration

SCORES = {"score-technical-readiness": "4", "score-resources": "3",
          "comment_to_applicant": "Ready to run; trim the checkpoints.",
          "private_comment": "I know the team's earlier work; solid."}


@pytest.fixture
def assigned(anonymous, make_person, officer):  # type: ignore[no-untyped-def]
    """A Fast Lane proposal in review with a technical review assigned to a reviewer."""
    applicant = make_person("anna@lumen.example")
    reviewer = make_person("rev@uni.example", Role.reviewer)
    org_id, proposal_id = fast_lane_in_review(anonymous, applicant)
    review = api.assign(anonymous, officer, proposal_id, reviewer)
    return {"applicant": applicant, "reviewer": reviewer, "org_id": org_id,
            "proposal_id": proposal_id, "review_id": review["id"]}


def test_the_queue_and_the_review_page_show_the_proposal_and_its_criteria(
        browser_for, assigned) -> None:
    reviewer = browser_for(assigned["reviewer"])
    queue = reviewer.get("/reviews")
    assert queue.status_code == 200
    assert "Fine-tuning a Dutch vision-language model" in page_text(queue)
    assert f'href="/reviews/{assigned["review_id"]}"' in queue.text

    page = reviewer.get(f"/reviews/{assigned['review_id']}")
    text = page_text(page)
    assert page.status_code == 200
    # Who applied (to judge a conflict), what they ask, and the mode's criteria on its scale.
    for expected in ("Lumen Vision B.V. (NL)", "We adapt an open 7B vision-language model",
                     "40 000", "Code and data are ready to run at scale",
                     "The GPU-hours requested are justified", "Declare a conflict of interest"):
        assert expected in text, expected
    assert page.text.count('name="score-technical-readiness"') == 5
    assert page.text.count("<h1>") == 1


def test_a_reviewer_scores_through_the_page(browser_for, assigned, officer,
                                           database: Database) -> None:
    reviewer = browser_for(assigned["reviewer"])
    r = post_form(reviewer, f"/reviews/{assigned['review_id']}/submit", SCORES)
    assert r.status_code == 303, page_text(r)
    assert r.headers["location"] == f"/reviews/{assigned['review_id']}?notice=review-submitted"

    review = review_row(database, assigned["review_id"])
    assert review.state is ReviewState.submitted
    assert review.scores == {"technical-readiness": 4, "resources": 3}
    assert review.weighted_score == pytest.approx(3.5)
    assert review.private_comment == "I know the team's earlier work; solid."

    after = page_text(reviewer.get(r.headers["location"]))
    assert "Your review is submitted." in after and "3.50" in after
    assert "Submit the review" not in after  # scored once
    # The access officer sees the private note; the applicant's API view does not.
    officer_page = page_text(browser_for(officer).get(f"/officer/proposals/"
                                                    f"{assigned['proposal_id']}"))
    assert "I know the team's earlier work; solid." in officer_page
    seen = api.API + f"/proposals/{assigned['proposal_id']}"
    body = browser_for(assigned["applicant"]).get(seen, headers=assigned["applicant"].headers)
    assert "I know the team" not in body.text and "Ready to run" in body.text


@pytest.mark.parametrize(("change", "message"), [
    ({"score-resources": ""}, "choose a score for this criterion"),
    ({"score-resources": "9"}, "choose a score from 1 to 5"),
    ({"score-resources": "four"}, "choose a score from 1 to 5"),
    ({"comment_to_applicant": "x" * 20_001}, "at most 20000 characters"),
])
def test_bad_scores_are_named_at_their_field_and_change_nothing(
        browser_for, assigned, database: Database, change, message) -> None:
    reviewer = browser_for(assigned["reviewer"])
    before = api.row_counts(database)
    r = post_form(reviewer, f"/reviews/{assigned['review_id']}/submit", {**SCORES, **change})
    assert r.status_code == 400
    assert message in page_text(r)
    # The message sits under its own field and the field points at it.
    field = next(iter(change))
    assert 'role="alert"' in r.text and f'id="{field}-error"' in r.text
    assert re.search(f'aria-describedby="[^"]*{field}-error"', r.text)
    # What was typed is still there.
    assert ('id="score-technical-readiness-4" name="score-technical-readiness" value="4" '
            'required checked') in r.text
    assert api.row_counts(database) == before
    assert review_row(database, assigned["review_id"]).state is ReviewState.assigned


def test_scoring_waits_until_the_proposal_is_in_review(browser_for, anonymous, make_person,
                                                       officer, database: Database) -> None:
    applicant = make_person("anna@lumen.example")
    reviewer = make_person("rev@uni.example", Role.reviewer)
    org_id = api.org(anonymous, applicant)
    # Large Scale waits for its cut-off in `submitted`; reviewers may be assigned already.
    draft = api.draft(anonymous, applicant, org_id, "large-scale", gpu_hours=60_000,
                      duration_months=3)
    api.submit(anonymous, applicant, draft["id"], "submitted")
    review = api.assign(anonymous, officer, draft["id"], reviewer)
    client = browser_for(reviewer)
    assert "Scores are taken while the proposal is in review" in page_text(
        client.get(f"/reviews/{review['id']}"))
    before = api.row_counts(database)
    r = post_form(client, f"/reviews/{review['id']}/submit",
                  {"score-technical-readiness": "4", "score-resources": "3"})
    assert r.status_code == 409 and "not in review" in page_text(r)
    assert api.row_counts(database) == before


def test_a_declared_conflict_removes_the_proposal_from_the_reviewer(
        browser_for, assigned, officer, database: Database) -> None:
    reviewer = browser_for(assigned["reviewer"])
    url = f"/reviews/{assigned['review_id']}"
    r = post_form(reviewer, f"{url}/conflict", {"reason": "I advised Lumen Vision in 2025."})
    assert r.status_code == 303 and r.headers["location"] == "/reviews?notice=conflict-declared"
    review = review_row(database, assigned["review_id"])
    assert review.state is ReviewState.conflict
    assert api.audit_actions(database, "review.conflict-declared") == 1

    queue = page_text(reviewer.get(r.headers["location"]))
    assert "conflict of interest is recorded" in queue
    assert "Fine-tuning a Dutch" not in queue
    assert reviewer.get(url).status_code == 404
    before = api.row_counts(database)
    assert post_form(reviewer, f"{url}/submit", SCORES).status_code == 404
    assert api.row_counts(database) == before
    # The access officer sees the conflict and its reason, to assign someone else.
    page = page_text(browser_for(officer).get(f"/officer/proposals/{assigned['proposal_id']}"))
    assert "conflict of interest" in page and "I advised Lumen Vision in 2025." in page


def test_a_conflict_needs_a_reason(browser_for, assigned, database: Database) -> None:
    reviewer = browser_for(assigned["reviewer"])
    before = api.row_counts(database)
    r = post_form(reviewer, f"/reviews/{assigned['review_id']}/conflict", {"reason": " "})
    assert r.status_code == 400 and "at least 3 characters" in page_text(r)
    assert api.row_counts(database) == before


def test_a_reviewer_never_reviews_a_proposal_of_their_own_organisation(
        browser_for, anonymous, make_person, officer, database: Database) -> None:
    applicant = make_person("anna@lumen.example")
    insider = make_person("cto@lumen.example", Role.reviewer)
    org_id, proposal_id = fast_lane_in_review(anonymous, applicant)
    api.add_member(anonymous, applicant, org_id, insider)
    office = browser_for(officer)
    before = api.row_counts(database)
    r = post_form(office, f"/officer/proposals/{proposal_id}/reviewers",
                  {"reviewer_id": str(insider.user_id), "kind": "technical"})
    assert r.status_code == 422
    assert "belongs to the applicant organisation and may not review" in page_text(r)
    assert api.row_counts(database) == before and reviews_of(database, proposal_id) == []
    assert "Fine-tuning a Dutch" not in page_text(browser_for(insider).get("/reviews"))


def test_joining_the_applicant_after_assignment_stops_the_review(
        browser_for, anonymous, assigned, database: Database) -> None:
    api.add_member(anonymous, assigned["applicant"], assigned["org_id"], assigned["reviewer"])
    reviewer = browser_for(assigned["reviewer"])
    before = api.row_counts(database)
    r = post_form(reviewer, f"/reviews/{assigned['review_id']}/submit", SCORES)
    assert r.status_code == 403 and "own organisation" in page_text(r)
    assert api.row_counts(database) == before


def test_other_people_get_nothing(browser_for, anonymous, assigned, make_person,
                                  database: Database) -> None:
    url = f"/reviews/{assigned['review_id']}"
    # Signed out: to the sign-in page, back here afterwards.
    r = anonymous.get(url, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/sign-in?next={url}"
    # Without the reviewer role: refused, whatever the id.
    applicant = browser_for(assigned["applicant"])
    assert applicant.get("/reviews").status_code == 403
    assert applicant.get(url).status_code == 403
    # Another reviewer guessing the id: not found, and nothing written.
    other = browser_for(make_person("other@uni.example", Role.reviewer))
    assert other.get(url).status_code == 404
    before = api.row_counts(database)
    assert post_form(other, f"{url}/submit", SCORES).status_code == 404
    assert post_form(other, f"{url}/conflict", {"reason": "guessing ids"}).status_code == 404
    assert api.row_counts(database) == before
    assert "Fine-tuning a Dutch" not in page_text(other.get("/reviews"))
