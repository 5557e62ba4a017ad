"""`fabriek observatory show` and `fabriek observatory csv` through the client, without a token."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from fabriek.db.session import Database
from fabriek.observatory import tables
from fabriek.observatory.tables import FigureSet
from tests.observatory import scenario

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(database: Database) -> None:
    with database.unit_of_work() as session:
        scenario.seed(session)


def test_show_prints_every_figure_as_tables(cli, seeded):
    result = cli("observatory", "show", "--days", "30")
    assert result.exit_code == 0, result.output
    for text in ("Time from application to first running job", "Fast Lane",
                 "GPU-hours by organisation type", "Start-ups", "GPU-hours by country",
                 "Germany", "GPU-hours by sector", "GPU-hours by factory",
                 "queue waits", "north factory", "start-ups and SMEs",
                 "46.0 %", "Models past the AI Act", "10^25 FLOP: 1", "tulip-7b", "confidential"):
        assert text in result.output, text
    assert "nightingale" not in result.output.lower()


def test_show_json_is_the_apis_answer(cli, seeded, api):
    shown = cli.json("observatory", "show")
    assert shown["gpu_hours"] == api.get("/api/v1/observatory").json()["gpu_hours"]


def test_csv_to_standard_output_and_to_a_file(cli, seeded, tmp_path: Path):
    result = cli("observatory", "csv", "gpu-hours")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert tuple(rows[0]) == tables.COLUMNS[FigureSet.gpu_hours]
    assert rows[1][:5] == ["total", "total", "Total", "8", "188000.0"]

    target = tmp_path / "factories.csv"
    result = cli("observatory", "csv", "factories", "--days", "7", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "written to" in result.output
    assert target.read_bytes().startswith(b"factory,name,gpus,")
    assert b"\r\n" in target.read_bytes()


def test_csv_names_the_figure_sets_when_given_another(cli):
    result = cli("observatory", "csv", "everything")
    assert result.exit_code != 0
    assert "gpu-hours" in result.output
