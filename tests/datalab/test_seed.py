"""The seed datasets: real files from the package, published once, put back when the blob
store lost them, and a catalogue that still conforms to DCAT-AP."""

from __future__ import annotations

import gzip
import hashlib
import json
from importlib import resources

import pytest
from rdflib import Graph

from fabriek.datalab.dcat import build_graph
from fabriek.datalab.models import Dataset, Distribution
from fabriek.datalab.seed import seed_datasets
from fabriek.datalab.service import catalogue_records
from tests.api.helpers import row_counts
from tests.datalab.conftest import blob_files, publish

pytestmark = pytest.mark.integration


def test_seeding_is_idempotent_and_the_files_are_the_packaged_ones(database, datalab):
    with database.unit_of_work() as s:
        assert seed_datasets(s, datalab) == ["ai-factories", "eu-ai-act", "philly-gpu-trace"]
    counts = row_counts(database)
    files = blob_files(datalab)
    with database.unit_of_work() as s:
        assert seed_datasets(s, datalab) == []
    assert row_counts(database) == counts and blob_files(datalab) == files
    with database.unit_of_work(readonly=True) as s:
        datasets = {d.slug: d for d in s.query(Dataset)}
        assert {d.licence for d in datasets.values()} == {"EUPL-1.2", "EU-COM-REUSE",
                                                          "CC-BY-4.0"}
        assert all(d.access_level.value == "open" for d in datasets.values())
        assert {"FI", "DE", "IT", "EU"} <= set(datasets["ai-factories"].spatial)
        dists = list(s.query(Distribution))
        assert len(dists) == 2 + 4 + 2
        for dist in dists:
            data = datalab.store.local_path(dist.blob_key).read_bytes()
            assert hashlib.sha256(data).hexdigest() == dist.sha256
            assert len(data) == dist.byte_size
        trace = next(d for d in dists if d.file_name == "philly_15k_jobs.csv.gz")
        packaged = resources.files("fabriek.federation").joinpath(
            "data", "traces", "philly_15k_jobs.csv.gz").read_bytes()
        assert datalab.store.local_path(trace.blob_key).read_bytes() == packaged
        assert gzip.decompress(packaged)[:200].count(b",") > 3
        act = next(d for d in dists if d.file_name == "ai_act_en.json")
        items = json.loads(datalab.store.local_path(act.blob_key).read_bytes())["items"]
        assert len(items) > 300


def test_a_lost_blob_is_put_back_and_a_stewards_slug_is_left_alone(database, datalab,
                                                                   client, steward):
    publish(client, steward, "eu-ai-act")
    with database.unit_of_work() as s:
        assert "eu-ai-act" not in seed_datasets(s, datalab)
    for path in blob_files(datalab):
        path.chmod(0o644)
        path.unlink()
    with database.unit_of_work() as s:
        assert seed_datasets(s, datalab) == []
    with database.unit_of_work(readonly=True) as s:
        seeded = [d for d in s.query(Distribution)
                  if d.dataset_id != s.query(Dataset).filter_by(slug="eu-ai-act").one().id]
        assert seeded and all(datalab.store.exists(d.blob_key) for d in seeded)
        mine = s.query(Dataset).filter_by(slug="eu-ai-act").one()
        assert mine.seed is None and mine.publisher_name.startswith("Example University")


def test_the_seeded_catalogue_conforms_to_dcat_ap(database, datalab):
    from pyshacl import validate

    from tests.datalab.test_dcat import _shapes

    with database.unit_of_work() as s:
        seed_datasets(s, datalab)
    with database.unit_of_work(readonly=True) as s:
        g = build_graph(catalogue_records(s), datalab.policy, "https://fabriek.example.eu")
    g = Graph().parse(data=g.serialize(format="turtle"), format="turtle")
    conforms, _, report = validate(g, shacl_graph=_shapes(), inference="rdfs")
    assert conforms, report
