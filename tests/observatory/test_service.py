"""The observatory's service on both databases over the scenario of tests/observatory/scenario.py:
every figure worked out by hand, and the confidential proposal named nowhere."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from fabriek.db.session import Database
from fabriek.observatory import dashboard, service
from fabriek.observatory.schemas import HoursGroupRead, ObservatoryRead
from tests.observatory import scenario
from tests.observatory.scenario import NOW

pytestmark = pytest.mark.integration


@pytest.fixture
def figures(database: Database, access) -> ObservatoryRead:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        scenario.seed(session)
    with database.unit_of_work(readonly=True) as session:
        return service.observatory(session, access, days=30, now=NOW)


def _rows(groups: list[HoursGroupRead]) -> dict[str, tuple[float, float, float, int]]:
    return {g.key: (g.requested_gpu_hours, g.allocated_gpu_hours, g.used_gpu_hours, g.proposals)
            for g in groups}


def test_time_from_application_to_first_running_job(figures):
    modes = {t.mode: (t.started, t.waiting, t.median_hours, t.p90_hours)
             for t in figures.time_to_first_job.modes}
    assert modes == {
        "playground": (2, 0, 1.25, 1.85),  # 2 h and 0.5 h
        "fast-lane": (1, 1, 43.0, 43.0),  # the pre-empted job's first start, estimated
        "large-scale": (1, 0, 30.0, 30.0),
        "ai-for-science": (0, 1, None, None),  # the rejected one does not wait
        "strategic": (1, 0, 1.0, 1.0),
        "emergency": (0, 0, None, None),
    }
    assert figures.time_to_first_job.modes[0].label == "Playground"
    assert "type 7" in figures.time_to_first_job.percentile_method


def test_gpu_hours_by_organisation_type_country_sector_and_factory(figures):
    g = figures.gpu_hours
    assert (g.total.requested_gpu_hours, g.total.allocated_gpu_hours, g.total.used_gpu_hours,
            g.total.proposals) == (188000, 113000, 523, 8)
    assert _rows(g.by_organisation_type) == {
        "start-up": (62000, 22000, 76, 3), "sme": (30000, 30000, 86, 1),
        "large": (81000, 61000, 361, 2), "research": (15000, 0, 0, 2),
        "public": (0, 0, 0, 0), "eu-project": (0, 0, 0, 0)}
    assert list(_rows(g.by_country).items()) == [
        ("DE", (81000, 61000, 361, 2)), ("FR", (30000, 30000, 86, 1)),
        ("NL", (62000, 22000, 76, 3)), ("ES", (15000, 0, 0, 2))]
    assert [c.label for c in g.by_country] == ["Germany", "France", "Netherlands", "Spain"]
    assert _rows(g.by_sector) == {
        "mobility": (80000, 60000, 360, 1), "health": (70000, 30000, 86, 2),
        "manufacturing": (22000, 22000, 76, 2), "energy": (1000, 1000, 1, 1),
        "climate": (15000, 0, 0, 2)}
    assert list(_rows(g.by_factory).items()) == [
        ("north", (81000, 61000, 361, 2)), ("local", (52000, 52000, 162, 3)),
        ("not-allocated", (55000, 0, 0, 3))]
    assert g.by_factory[1].label == "Local AI Factory (embedded)"


def test_the_share_going_to_startups_and_smes(figures):
    s = figures.startup_share
    assert (s.allocated_gpu_hours, s.startups_gpu_hours, s.smes_gpu_hours) == (
        113000, 22000, 30000)
    assert s.share_startups == pytest.approx(22000 / 113000, abs=1e-6)
    assert s.share_startups_and_smes == pytest.approx(52000 / 113000, abs=1e-6)


def test_utilisation_and_queue_waits_per_factory(figures):
    window = figures.factories.window
    assert (window.ends_at, window.days) == (NOW, 30)
    by = {f.factory: f for f in figures.factories.factories}
    assert set(by) == {"local", "north"}  # the catalogue's factories are not connected
    local, north = by["local"], by["north"]
    # local: 4 + 80 + 6 (the pre-empted run) + 24 (half of the job across the window's start)
    assert (local.gpus, local.capacity_gpu_hours, local.used_gpu_hours) == (256, 184320, 114)
    assert local.utilisation == pytest.approx(114 / 184320, abs=1e-6)
    assert (local.jobs_started, local.wait_median_hours, local.wait_p90_hours) == (3, 2.0, 2.8)
    assert (north.gpus, north.capacity_gpu_hours, north.used_gpu_hours) == (8, 5760, 361)
    assert (north.jobs_started, north.wait_median_hours, north.wait_p90_hours) == (
        2, 5.2, 9.04)


def test_models_past_the_ai_act_thresholds(figures):
    models = figures.ai_act_models
    assert [(t.exponent, t.models) for t in models.thresholds] == [(23, 2), (25, 1)]
    assert [(x.model, x.organisation, x.threshold, x.flop) for x in models.models] == [
        ("confidential", "confidential", "1e25", 2e25),
        ("tulip-7b", "Lumen Vision B.V.", "1e23", 3e23)]


def test_the_confidential_proposal_is_named_nowhere(figures):
    text = figures.model_dump_json().lower()
    for secret in (scenario.SECRET_TITLE, scenario.SECRET_MODEL, scenario.SECRET_ORG,
                   "nightingale", "hidden health"):
        assert secret.lower() not in text


def test_the_figure_sets_alone_equal_the_whole(database, access):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        scenario.seed(session)
    with database.unit_of_work(readonly=True) as session:
        whole = service.observatory(session, access, days=30, now=NOW)
        assert service.time_to_first_job(session, access) == whole.time_to_first_job
        assert service.gpu_hours(session, access) == whole.gpu_hours
        assert service.startup_share(session, access) == whole.startup_share
        assert service.factory_loads(session, days=30, now=NOW) == whole.factories
        assert service.ai_act_models(session) == whole.ai_act_models


def test_an_empty_programme(database, access):  # type: ignore[no-untyped-def]
    with database.unit_of_work(readonly=True) as session:
        figures = service.observatory(session, access, days=7, now=NOW)
    assert all(t.started == t.waiting == 0 for t in figures.time_to_first_job.modes)
    assert figures.gpu_hours.total.requested_gpu_hours == 0
    assert figures.startup_share.share_startups is None
    assert [f.factory for f in figures.factories.factories] == ["local"]
    assert figures.factories.factories[0].utilisation == 0
    assert figures.ai_act_models.models == []


def test_the_dashboard_charts_draw_the_figures(figures):
    charts = dashboard.all_charts(figures)
    assert list(charts) == [name.value for name in dashboard.ChartName]
    for name, svg in charts.items():
        root = ET.fromstring(svg)
        assert root.get("role") == "img", name
        assert "nightingale" not in svg.lower() and "hidden health" not in svg.lower()
    assert "Start-ups 22,000" in charts["startup-share"]  # in the description, for readers
    assert "46.0 % to start-ups and SMEs" in charts["startup-share"]
    assert "north factory: 6.3 %" in charts["utilisation"]
    assert dashboard.render("queue-waits", figures.factories) == charts["queue-waits"]
