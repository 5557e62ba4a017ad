"""Set-up shared by the reviewer, access-officer and operator page tests (through the API, as
the other roles would have done it)."""

from __future__ import annotations

import html
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from fabriek.access.models import Proposal, Review
from fabriek.db.session import Database
from tests.api import helpers as api
from tests.conftest import Person
from tests.portal.helpers import text_of


def page_text(r: Response) -> str:
    """The page's visible text with entities decoded (apostrophes arrive as &#39;)."""
    return html.unescape(text_of(r))


def proposal_row(database: Database, proposal_id: int) -> Proposal:
    with database.session(readonly=True) as s:
        proposal = s.get(Proposal, proposal_id)
        assert proposal is not None
        s.expunge(proposal)
        return proposal


def review_row(database: Database, review_id: int) -> Review:
    with database.session(readonly=True) as s:
        review = s.get(Review, review_id)
        assert review is not None
        s.expunge(review)
        return review


def reviews_of(database: Database, proposal_id: int) -> list[Review]:
    with database.session(readonly=True) as s:
        rows = list(s.execute(select(Review).where(Review.proposal_id == proposal_id)).scalars())
        for r in rows:
            s.expunge(r)
        return rows


def fast_lane_in_review(client: TestClient, applicant: Person, **org: Any) -> tuple[int, int]:
    """(organisation id, proposal id) of a Fast Lane proposal waiting for its review."""
    org_id = api.org(client, applicant, **org)
    return org_id, api.in_review(client, applicant, org_id)["id"]


def operate(client: TestClient, officer: Person, operator: Person, factory: str = "local"
            ) -> None:
    r = client.post(f"/api/v1/factories/{factory}/operators", headers=officer.headers,
                    json={"email": operator.email})
    assert r.status_code == 201, r.text
