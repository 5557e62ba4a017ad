"""The public dashboard: no sign-in, the same figures as the API, charts with their tables,
and nothing of a confidential proposal."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from fabriek.db.session import Database
from tests.observatory import scenario
from tests.portal.helpers import text_of

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(database: Database) -> dict[str, int]:
    with database.unit_of_work() as session:
        return scenario.seed(session)


def test_the_dashboard_is_public_and_shows_the_apis_figures(
        anonymous: TestClient, seeded: dict[str, int]) -> None:
    page = anonymous.get("/dashboard")
    assert page.status_code == 200, page.text
    api = anonymous.get("/api/v1/observatory").json()
    text = text_of(page)
    share = api["startup_share"]["share_startups_and_smes"]
    assert f"{100 * share:.1f} %" in text
    total = api["gpu_hours"]["total"]
    for hours in (total["requested_gpu_hours"], total["used_gpu_hours"],
                  total["allocated_gpu_hours"]):
        assert f"{hours:,.0f}".replace(",", "\u202f") in page.text, hours
    # Every chart, inline and labelled, with its table and CSV.
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg"') == 9
    assert page.text.count("<table>") == 5
    for name in ("time-to-first-job", "gpu-hours", "factories", "startup-share",
                 "ai-act-models"):
        assert f'href="/api/v1/observatory/{name}.csv"' in page.text
    for mode in api["time_to_first_job"]["modes"]:
        if mode["median_hours"] is not None:
            assert mode["label"] in text


def test_a_confidential_proposal_is_not_named_on_the_dashboard(
        anonymous: TestClient, seeded: dict[str, int]) -> None:
    body = anonymous.get("/dashboard?days=365").text
    for secret in (scenario.SECRET_TITLE, scenario.SECRET_MODEL, scenario.SECRET_ORG):
        assert secret not in body
    assert "confidential" in body  # the model past 10^25 is counted, not named


def test_the_window_is_one_of_four(anonymous: TestClient) -> None:
    for days in (7, 30, 90, 365):
        assert anonymous.get(f"/dashboard?days={days}").status_code == 200
    for bad in ("5", "abc", "-1"):
        r = anonymous.get(f"/dashboard?days={bad}")
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
        assert re.search(r"7, 30, 90 or 365|integer", text_of(r)), text_of(r)


def test_an_empty_programme_still_renders(anonymous: TestClient) -> None:
    page = anonymous.get("/dashboard")
    assert page.status_code == 200 and "Programme figures" in page.text


def test_the_charts_speak_the_pages_language(anonymous: TestClient,
                                             seeded: dict[str, int]) -> None:
    dutch = anonymous.get("/dashboard", headers={"Accept-Language": "nl"}).text
    svgs = re.findall(r"<svg .*?</svg>", dutch, flags=re.S)
    assert len(svgs) == 9
    titles = [re.search(r"<title[^>]*>(.*?)</title>", s, flags=re.S).group(1) for s in svgs]
    assert "Tijd van aanvraag tot eerste draaiende taak" in titles
    assert "Benutting over de laatste 30 dagen" in titles
    assert "GPU-uren per land" in titles
    for english in ("Time from application", "Utilisation over", "GPU-hours by",
                    "90th percentile", "Everyone else", "Allocated GPU-hours", "median_hours"):
        assert english not in dutch, english
    # The tables beside the charts: Dutch captions and column headings, not the CSV's keys.
    caption = "Tijd van aanvraag tot eerste draaiende taak, per toegangsmodus"
    assert f"<caption>{caption}</caption>" in dutch
    assert '<th scope="col">Mediaan (uren)</th>' in dutch
    # The API's images stay English, and an English page too.
    english_page = anonymous.get("/dashboard", headers={"Accept-Language": "en"}).text
    assert "Time from application to first running job" in english_page
    svg = anonymous.get("/api/v1/observatory/charts/utilisation.svg")
    assert svg.status_code == 200 and "Utilisation over the last 30 days" in svg.text
