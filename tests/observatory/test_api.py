"""The observatory's API on both databases: public (no token), JSON and CSV that agree number for
number, SVG charts, OpenAPI, and the confidential proposal named in none of them."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from fabriek.api.app import create_app
from fabriek.compute.models import Job
from fabriek.db.session import Database
from fabriek.kit.clock import utcnow
from fabriek.observatory import tables
from fabriek.observatory.dashboard import ChartName
from fabriek.observatory.schemas import AiActModels, ModelPastRead
from fabriek.observatory.tables import FigureSet
from fabriek.settings import Settings
from tests.api import helpers as h
from tests.compute.helpers import job
from tests.conftest import Person
from tests.observatory import scenario

pytestmark = pytest.mark.integration
OBS = f"{h.API}/observatory"


@pytest.fixture
def seeded(database: Database) -> dict[str, int]:
    with database.unit_of_work() as session:
        return scenario.seed(session)


def _csv(client: TestClient, name: str) -> list[dict[str, str]]:
    r = client.get(f"{OBS}/{name}.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == f'attachment; filename="fabriek-{name}.csv"'
    reader = csv.DictReader(io.StringIO(r.text, newline=""))
    assert tuple(reader.fieldnames or ()) == tables.COLUMNS[FigureSet(name)]
    return list(reader)


def _number(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def test_the_figures_need_no_token(app_client, seeded):
    r = app_client.get(OBS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["gpu_hours"]["total"]["requested_gpu_hours"] == 188000
    assert [t["models"] for t in body["ai_act_models"]["thresholds"]] == [2, 1]
    for name in FigureSet:
        assert app_client.get(f"{OBS}/{name}").status_code == 200, name


def test_a_token_is_not_needed_but_does_no_harm(app_client, seeded, officer):
    assert app_client.get(OBS, headers=officer.headers).json()["gpu_hours"] == (
        app_client.get(OBS).json()["gpu_hours"])


def test_the_figure_sets_are_the_parts_of_the_whole(app_client, seeded):
    whole = app_client.get(OBS).json()
    parts = {"time-to-first-job": "time_to_first_job", "gpu-hours": "gpu_hours",
             "startup-share": "startup_share", "ai-act-models": "ai_act_models"}
    for name, key in parts.items():
        assert app_client.get(f"{OBS}/{name}").json() == whole[key], name


def test_csv_round_trip_time_to_first_job(app_client, seeded):
    rows = _csv(app_client, "time-to-first-job")
    modes = app_client.get(f"{OBS}/time-to-first-job").json()["modes"]
    assert [r["mode"] for r in rows] == [m["mode"] for m in modes]
    for row, m in zip(rows, modes, strict=True):
        assert (row["label"], int(row["started"]), int(row["waiting"])) == (
            m["label"], m["started"], m["waiting"])
        assert (_number(row["median_hours"]), _number(row["p90_hours"])) == (
            m["median_hours"], m["p90_hours"])


def test_csv_round_trip_gpu_hours(app_client, seeded):
    rows = {(r["dimension"], r["key"]): r for r in _csv(app_client, "gpu-hours")}
    body = app_client.get(f"{OBS}/gpu-hours").json()
    expected = [("total", body["total"])] + [
        (dimension, g) for dimension, field in (
            ("organisation-type", "by_organisation_type"), ("country", "by_country"),
            ("sector", "by_sector"), ("factory", "by_factory")) for g in body[field]]
    assert len(rows) == len(expected) == 1 + 6 + 4 + 5 + 3
    for dimension, g in expected:
        row = rows[(dimension, g["key"])]
        assert row["label"] == g["label"] and int(row["proposals"]) == g["proposals"]
        for column in ("requested_gpu_hours", "allocated_gpu_hours", "used_gpu_hours"):
            assert float(row[column]) == g[column], (dimension, g["key"], column)


def test_csv_round_trip_factories_share_and_models(app_client, seeded):
    factories = app_client.get(f"{OBS}/factories").json()
    rows = _csv(app_client, "factories")
    assert [r["factory"] for r in rows] == [f["factory"] for f in factories["factories"]]
    for row, f in zip(rows, factories["factories"], strict=True):
        assert {k: row[k] for k in ("factory", "name")} == {k: f[k] for k in ("factory", "name")}
        for column in ("gpus", "capacity_gpu_hours", "used_gpu_hours", "utilisation",
                       "jobs_started", "wait_median_hours", "wait_p90_hours"):
            assert _number(row[column]) == f[column], column
        assert datetime.fromisoformat(row["window_ends_at"]) == datetime.fromisoformat(
            factories["window"]["ends_at"])

    [share] = _csv(app_client, "startup-share")
    body = app_client.get(f"{OBS}/startup-share").json()
    assert {k: _number(v) for k, v in share.items()} == body

    models = _csv(app_client, "ai-act-models")
    listed = app_client.get(f"{OBS}/ai-act-models").json()["models"]
    assert [(r["model"], r["organisation"], float(r["flop"]), r["threshold"]) for r in models] \
        == [(m["model"], m["organisation"], m["flop"], m["threshold"]) for m in listed]


def test_every_chart_is_an_accessible_svg(app_client, seeded):
    for name in ChartName:
        r = app_client.get(f"{OBS}/charts/{name}.svg")
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-type"] == "image/svg+xml"
        root = ET.fromstring(r.text)
        assert root.get("role") == "img" and root.get("aria-labelledby"), name
    svg = app_client.get(f"{OBS}/charts/gpu-hours-by-country.svg").text
    assert "Germany" in svg and "81,000" in svg


def test_the_confidential_proposal_is_named_in_no_answer(app_client, seeded):
    answers = [app_client.get(OBS).text]
    answers += [app_client.get(f"{OBS}/{name}").text for name in FigureSet]
    answers += [app_client.get(f"{OBS}/{name}.csv").text for name in FigureSet]
    answers += [app_client.get(f"{OBS}/charts/{name}.svg").text for name in ChartName]
    assert "confidential" in answers[0]  # the model is listed, as confidential
    for text in answers:
        for secret in ("nightingale", "hidden health", "oncology"):
            assert secret not in text.lower()


def test_bad_parameters_are_problems(app_client):
    h.problem(app_client.get(f"{OBS}?days=0"), 422, "validation_failed")
    body = h.problem(app_client.get(f"{OBS}/factories?days=31"), 422, "validation_failed")
    assert "7, 30, 90 or 365" in body["detail"]
    h.problem(app_client.get(f"{OBS}/nothing.csv"), 422, "validation_failed")
    h.problem(app_client.get(f"{OBS}/charts/nothing.svg"), 422, "validation_failed")


def test_the_api_documents_json_csv_and_svg(app_client):
    paths = app_client.get("/openapi.json").json()["paths"]
    csv_route = paths["/api/v1/observatory/{name}.csv"]["get"]
    assert "text/csv; charset=utf-8" in csv_route["responses"]["200"]["content"]
    assert "requested_gpu_hours" in csv_route["description"]
    assert "image/svg+xml" in (
        paths["/api/v1/observatory/charts/{name}.svg"]["get"]["responses"]["200"]["content"])
    assert "security" not in paths["/api/v1/observatory"]["get"]
    for name in FigureSet:
        assert f"/api/v1/observatory/{name}" in paths


def test_a_model_name_cannot_become_a_spreadsheet_formula():
    figure = AiActModels(thresholds=[], models=[ModelPastRead(
        model="=HYPERLINK(\"http://x\")", organisation="@evil", flop=2e23, basis="reported",
        threshold="1e23")])
    [row] = list(csv.DictReader(io.StringIO(tables.to_csv(tables.ai_act_models(figure)))))
    assert (row["model"], row["organisation"]) == ("'=HYPERLINK(\"http://x\")", "'@evil")


def test_the_figures_are_computed_once_per_interval(app_client, database, seeded):
    first = app_client.get(OBS).json()
    with database.unit_of_work() as session:  # a second programme's worth of proposals
        scenario.seed(session, suffix="-2")
    assert app_client.get(OBS).json() == first  # within the minute: the same answer
    assert app_client.get(f"{OBS}/gpu-hours").json() == first["gpu_hours"]
    assert app_client.get(f"{OBS}?days=7").json()["gpu_hours"]["total"][
        "requested_gpu_hours"] == 2 * 188000  # another window: computed now


@pytest.fixture
def applicant(make_person) -> Person:  # type: ignore[no-untyped-def]
    return make_person("anna@lumen.example")


@pytest.fixture
def uncached(database: Database, access, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(Settings(data_dir=tmp_path, observatory_cache_seconds=0),
                     database=database, access=access, run_reconciler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_application_through_the_api_shows_up(uncached, applicant, database):
    """Playground accepted, a job submitted: waiting; once it runs, the time is counted."""
    app_client = uncached
    org_id = h.org(app_client, applicant)
    accepted = h.accepted(app_client, applicant, org_id, sector="healthcare")
    r = app_client.post(f"{h.API}/jobs", headers=applicant.headers,
                        json=job(accepted["allocation_ids"][0]))
    assert r.status_code == 201, r.text

    def playground() -> dict[str, Any]:
        modes = app_client.get(f"{OBS}/time-to-first-job").json()["modes"]
        return next(m for m in modes if m["mode"] == "playground")

    assert (playground()["started"], playground()["waiting"]) == (0, 1)
    gpu_hours = app_client.get(f"{OBS}/gpu-hours").json()
    assert [(g["key"], g["allocated_gpu_hours"]) for g in gpu_hours["by_sector"]] == [
        ("health", 2000)]
    assert gpu_hours["by_organisation_type"][0]["key"] == "start-up"
    assert app_client.get(f"{OBS}/startup-share").json()["share_startups"] == 1.0

    now = utcnow()
    with database.unit_of_work() as s:  # what the reconciler records when it starts
        s.execute(update(Job).where(Job.id == r.json()["id"]).values(
            state="running", queued_at=now, started_at=now))
    after = playground()
    assert (after["started"], after["waiting"]) == (1, 0)
    assert 0 <= after["median_hours"] < 1
    local = next(f for f in app_client.get(f"{OBS}/factories").json()["factories"]
                 if f["factory"] == "local")
    assert local["jobs_started"] == 1
