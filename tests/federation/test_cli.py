"""`fabriek factory …` and `fabriek gpu-specs` through the API."""

from __future__ import annotations

import pytest

from fabriek.db.session import Database
from fabriek.federation import service
from fabriek.federation.catalogue import load_catalogue
from fabriek.federation.models import Partition
from fabriek.identity.enums import Role
from tests.cli.conftest import Cli
from tests.cli.helpers import error_lines
from tests.conftest import Person

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded_cli(cli: Cli, database: Database) -> Cli:
    with database.unit_of_work() as s:
        service.sync_catalogue(s, load_catalogue())
    return cli


@pytest.fixture
def ops(seeded_cli: Cli, officer: Person, make_person) -> Person:  # type: ignore[no-untyped-def]
    person = make_person("ops@fz-juelich.example", Role.factory_operator)
    assigned = seeded_cli.json("factory", "add-operator", "jaif", "--email", person.email,
                               token=officer.token)
    assert assigned["operators"] == [person.user_id]
    return person


def test_factory_list_table_and_json(seeded_cli, officer):  # type: ignore[no-untyped-def]
    table = seeded_cli("factory", "list", "--sector", "healthcare", "--country", "ES",
                       token=officer.token)
    assert table.exit_code == 0, table.output
    assert "1healthai" in table.stdout and "bsc" in table.stdout and "jaif" not in table.stdout
    assert len(seeded_cli.json("factory", "list", "--limit", "10", token=officer.token)) == 10
    listed = seeded_cli.json("factory", "list", "--limit", "10", "--all", token=officer.token)
    assert len(listed) == 33  # every page is fetched
    antennas = seeded_cli.json("factory", "list", "--kind", "antenna", token=officer.token)
    assert [a["linked_factory"] for a in antennas if a["id"] == "antenna-be"] == ["lumi"]


def test_factory_show(seeded_cli, officer):  # type: ignore[no-untyped-def]
    shown = seeded_cli("factory", "show", "luxembourg", token=officer.token)
    assert shown.exit_code == 0, shown.output
    assert "MeluXina-AI" in shown.stdout and "published" in shown.stdout
    body = seeded_cli.json("factory", "show", "antenna-cy", token=officer.token)
    assert (body["linked_factory"], body["partitions"]) == ("pharos", [])
    missing = seeded_cli("factory", "show", "atlantis", token=officer.token)
    assert missing.exit_code == 1
    assert "factory 'atlantis' not found" in error_lines(missing)[0]


def test_set_capacity_through_the_api(seeded_cli, database, ops):  # type: ignore[no-untyped-def]
    done = seeded_cli("factory", "set-capacity", "jaif", "booster", "--nodes", "5900",
                      "--gpus-per-node", "4", "--gpu-model", "GH200", "--note", "acceptance",
                      token=ops.token)
    assert done.exit_code == 0, done.output
    assert "23,600 GPUs (basis operator)" in done.stdout
    with database.unit_of_work(readonly=True) as s:
        p = s.get(Partition, ("jaif", "booster"))
        assert (p.nodes, p.capacity_basis, p.capacity_note) == (5900, "operator", "acceptance")


def test_set_capacity_refusals_are_one_line(seeded_cli, database, ops, make_person):  # type: ignore[no-untyped-def]
    other = make_person("ops@bsc.example", Role.factory_operator)
    refused = seeded_cli("factory", "set-capacity", "jaif", "booster", "--nodes", "1",
                         "--gpus-per-node", "1", token=other.token)
    assert refused.exit_code == 1 and "only an operator of jaif" in error_lines(refused)[0]
    unknown = seeded_cli("factory", "set-capacity", "jaif", "booster", "--nodes", "1",
                         "--gpus-per-node", "4", "--gpu-model", "TPU-v5", token=ops.token)
    assert unknown.exit_code == 1 and "unknown gpu_model 'TPU-v5'" in error_lines(unknown)[0]
    assert "Traceback" not in refused.output + unknown.output
    with database.unit_of_work(readonly=True) as s:
        assert s.get(Partition, ("jaif", "booster")).nodes == 6000


def test_maintenance_add_list_remove(seeded_cli, ops):  # type: ignore[no-untyped-def]
    window = seeded_cli.json("factory", "maintenance", "add", "jaif", "--partition", "booster",
                             "--starts-at", "2026-12-01T08:00", "--ends-at",
                             "2026-12-02T08:00", "--gpus", "100", "--reason", "firmware",
                             token=ops.token)
    assert (window["starts_at"], window["gpus"]) == ("2026-12-01T08:00:00Z", 100)
    listed = seeded_cli.json("factory", "maintenance", "list", "jaif", token=ops.token)
    assert [w["id"] for w in listed] == [window["id"]]
    removed = seeded_cli("factory", "maintenance", "remove", "jaif", str(window["id"]),
                         token=ops.token)
    assert removed.exit_code == 0, removed.output
    assert seeded_cli.json("factory", "maintenance", "list", "jaif", token=ops.token) == []
    backwards = seeded_cli("factory", "maintenance", "add", "jaif", "--starts-at",
                           "2026-12-02T08:00", "--ends-at", "2026-12-01T08:00", "--reason",
                           "x", token=ops.token)
    assert backwards.exit_code == 1
    assert "ends_at must be after starts_at" in error_lines(backwards)[0]


def test_gpu_specs_command(seeded_cli, officer):  # type: ignore[no-untyped-def]
    table = seeded_cli("gpu-specs", token=officer.token)
    assert table.exit_code == 0 and "MI300A" in table.stdout
    specs = seeded_cli.json("gpu-specs", token=officer.token)
    assert {s["model"]: s["bf16_dense_tflops"] for s in specs}["B200"] == 2250
