"""`fabriek data run|runs|show-run` against the in-process API, the worker in a thread."""

from __future__ import annotations

import threading

import pytest

from tests.cli.conftest import Cli, api, cli, settings  # noqa: F401  (fixtures)
from tests.datalab.test_services_runs import publish

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(api):  # type: ignore[no-untyped-def]  # noqa: F811
    stop = threading.Event()
    thread = threading.Thread(target=api.app.state.datalab_runner.run_forever,
                              args=(stop, 0.05), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


def test_run_waits_for_the_result_and_prints_it(cli: Cli, api, database, steward,  # noqa: F811
                                                worker, tmp_path):
    publish(api, database, steward)
    result = cli("data", "run", "detect-personal-data", "icu-visits", token=steward.token)
    assert result.exit_code == 0, result.output
    assert "Personal data found" in result.output and "phone number" in result.output
    assert "+3* * ******78" in result.output and "+31 6 12345678" not in result.output
    schema = tmp_path / "schema.yaml"
    schema.write_text("columns:\n  - {name: age, type: integer, max: 70}\n")
    run = cli.json("data", "run", "validate", "icu-visits", "--schema", str(schema),
                   token=steward.token)
    assert run["state"] == "done" and run["result"]["violations"][0]["count"] == 27
    listed = cli.json("data", "runs", "icu-visits", token=steward.token)
    assert [r["service"] for r in listed] == ["detect-personal-data", "validate"]
    shown = cli("data", "show-run", str(run["id"]), token=steward.token)
    assert shown.exit_code == 0 and "27" in shown.output


def test_a_failed_run_exits_non_zero_and_a_refusal_says_why(cli: Cli, api, database,  # noqa: F811
                                                            steward, worker, make_person):
    publish(api, database, steward, files=(("broken.json", b'{"a": 1}\n{"a": '),))
    result = cli("data", "run", "convert", "icu-visits", token=steward.token)
    assert result.exit_code == 1
    assert "cannot convert the file" in result.output
    outsider = make_person("someone@else.example")
    refused = cli("data", "run", "profile", "icu-visits", token=outsider.token)
    assert refused.exit_code != 0
    assert "request access first" in refused.output
