"""`fabriek data …` end to end through the client: publish from YAML, upload with a checksum,
search, request, decide, download verified, the read log, revoke, export."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import pytest
import yaml

from fabriek.settings import Settings
from tests.cli.conftest import Cli
from tests.compute.helpers import allocation
from tests.datalab.conftest import dataset_body

pytestmark = pytest.mark.integration

CSV = b"stay,hour,heart_rate\n" + b"".join(b"%d,%d,%d\n" % (i, i % 24, 60 + i % 40)
                                           for i in range(50_000))


@pytest.fixture
def cli(client, database, tmp_path) -> Cli:  # type: ignore[no-untyped-def]
    return Cli(client, Settings(database_url=database.url, data_dir=tmp_path))


def test_publish_upload_request_decide_download(cli, client, steward, officer, make_person,
                                                tmp_path):
    meta = tmp_path / "icu-vitals.yaml"
    meta.write_text(yaml.safe_dump(dataset_body()), encoding="utf-8")
    r = cli("data", "create", str(meta), token=steward.token)
    assert r.exit_code == 0, r.output
    assert "icu-vitals published" in r.output
    source = tmp_path / "vitals.csv"
    source.write_bytes(CSV)
    r = cli("data", "upload", "icu-vitals", str(source), token=steward.token)
    assert r.exit_code == 0, r.output
    assert hashlib.sha256(CSV).hexdigest() in r.output and "verified" in r.output

    applicant = make_person("lab@lumen.example")
    alloc_id = allocation(client, officer, applicant)
    org_id = client.get(f"/api/v1/allocations/{alloc_id}",
                        headers=applicant.headers).json()["organisation_id"]
    found = cli.json("data", "list", "vital", "--access", "approval", token=applicant.token)
    assert [d["slug"] for d in found] == ["icu-vitals"]
    r = cli("data", "download", "icu-vitals", "-o", str(tmp_path / "out"),
            token=applicant.token)
    assert r.exit_code != 0 and "request access" in r.output
    until = (date.today() + timedelta(days=60)).isoformat()
    made = cli.json("data", "request", "icu-vitals", "--org", str(org_id), "--allocation",
                    str(alloc_id), "--until", until, "--purpose",
                    "Train an early-warning model for sepsis", token=applicant.token)
    queue = cli.json("data", "requests", "--queue", token=steward.token)
    assert [q["id"] for q in queue] == [made["id"]]
    decided = cli.json("data", "decide", str(made["id"]), "--approve", "--reasons",
                       "Purpose within the data use terms", token=steward.token)
    assert decided["state"] == "approved"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = cli("data", "download", "icu-vitals", "-o", str(out_dir), "--purpose",
            "sepsis model, first run", token=applicant.token)
    assert r.exit_code == 0, r.output
    assert (out_dir / "vitals.csv").read_bytes() == CSV
    assert list(out_dir.iterdir()) == [out_dir / "vitals.csv"]  # no temporary left
    reads = cli.json("data", "reads", "icu-vitals", token=steward.token)
    assert [(x["who"], x["purpose"]) for x in reads] == [
        ("lab@lumen.example", "sepsis model, first run")]
    grants = cli.json("data", "grants", "--valid", token=applicant.token)
    assert len(grants) == 1
    revoked = cli.json("data", "revoke", str(grants[0]["id"]), "--reason",
                       "Project ended early", token=steward.token)
    assert revoked["state"] == "revoked"
    assert cli.json("data", "grants", "--valid", token=applicant.token) == []
    r = cli("data", "export", "--format", "jsonld", token=None)
    assert r.exit_code == 0, r.output
    assert "icu-vitals" in json.dumps(json.loads(r.stdout))


def test_a_tampered_download_is_not_kept(cli, client, steward, datalab, tmp_path):
    meta = tmp_path / "open.yaml"
    meta.write_text(yaml.safe_dump(dataset_body("open-vitals", access_level="open")))
    assert cli("data", "create", str(meta), token=steward.token).exit_code == 0
    source = tmp_path / "vitals.csv"
    source.write_bytes(CSV)
    dist = cli.json("data", "upload", "open-vitals", str(source), token=steward.token)
    # Someone changes the stored file behind the server's back.
    path = datalab.store.local_path(f"sha256/{dist['sha256'][:2]}/{dist['sha256'][2:]}")
    path.chmod(0o644)
    path.write_bytes(CSV.replace(b"82", b"83"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = cli("data", "download", "open-vitals", "-o", str(out_dir))
    assert r.exit_code != 0
    assert "checksum mismatch" in r.output and "nothing was kept" in r.output
    assert list(out_dir.iterdir()) == []
