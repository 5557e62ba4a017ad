"""The catalogue as DCAT-AP 3.0 (RDF), for public portals to harvest: pure, no I/O.

`build_graph` turns plain records of the datasets into an rdflib Graph; `serialise` writes it
as Turtle or JSON-LD. IRIs hang off the installation's public address:

- catalogue:    <base>/api/v1/datalab/catalogue
- dataset:      <base>/api/v1/datalab/datasets/<slug>  (landing page: <base>/data/<slug>)
- distribution: <base>/api/v1/datalab/datasets/<slug>/distributions/<id>
  (dcat:downloadURL: …/content; dcat:accessURL: the download for open data, else the
  dataset's page, where access is requested)

Controlled values use the EU Vocabularies (data themes, file types, access rights, countries,
licences); every object of a property whose DCAT-AP range is a class is typed with it
(skos:Concept, dct:LicenseDocument, dct:Location, dct:MediaTypeOrExtent, …) so the SHACL
shapes can check the ranges without fetching the vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pycountry
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from fabriek.datalab.enums import AccessLevel
from fabriek.datalab.policy_files import DatalabPolicy

SPDX = Namespace("http://spdx.org/rdf/terms#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority"
IANA = "https://www.iana.org/assignments/media-types/"
TURTLE, JSON_LD = "text/turtle", "application/ld+json"


@dataclass(frozen=True)
class DistributionRecord:
    id: int
    file_name: str
    title: str
    media_type: str
    file_type: str
    byte_size: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class DatasetRecord:
    slug: str
    title: dict[str, str]
    description: dict[str, str]
    publisher_name: str
    publisher_uri: str | None
    themes: list[str]
    data_space: str
    licence: str
    spatial: list[str]
    temporal_start: date | None
    temporal_end: date | None
    keywords: list[str]
    access_level: AccessLevel
    landing_page: str | None
    contact_email: str | None
    issued: date | None
    created_at: datetime
    modified_at: datetime
    distributions: list[DistributionRecord]


def country_uri(code: str) -> URIRef:
    """The EU country table's IRI (ISO 3166-1 alpha-3; "EU" is the Union as a whole)."""
    if code == "EU":
        return URIRef(f"{EU}/country/EUR")
    country = pycountry.countries.get(alpha_2=code)
    alpha3 = country.alpha_3 if country is not None else code  # XK → XKX is not in pycountry
    return URIRef(f"{EU}/country/{'XKX' if code == 'XK' else alpha3}")


def _texts(g: Graph, subject: URIRef, prop: URIRef, texts: dict[str, str]) -> None:
    for lang, text in sorted(texts.items()):
        g.add((subject, prop, Literal(text, lang=lang)))


def _concept(g: Graph, uri: str, scheme: str | None = None,
             labels: dict[str, str] | None = None) -> URIRef:
    node = URIRef(uri)
    g.add((node, RDF.type, SKOS.Concept))
    if scheme:
        g.add((node, SKOS.inScheme, URIRef(scheme)))
    for lang, label in sorted((labels or {}).items()):
        g.add((node, SKOS.prefLabel, Literal(label, lang=lang)))
    return node


def _agent(g: Graph, name: str, uri: str | None) -> URIRef | BNode:
    node: URIRef | BNode = URIRef(uri) if uri else BNode()
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, FOAF.name, Literal(name)))
    return node


def build_graph(datasets: list[DatasetRecord], policy: DatalabPolicy, base_url: str) -> Graph:
    base = base_url.rstrip("/")
    api = f"{base}/api/v1/datalab"
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("skos", SKOS),
                       ("spdx", SPDX), ("vcard", VCARD), ("xsd", XSD)):
        g.bind(prefix, ns)

    info = policy.catalogue
    catalogue = URIRef(f"{api}/catalogue")
    g.add((catalogue, RDF.type, DCAT.Catalog))
    _texts(g, catalogue, DCTERMS.title, info.title.model_dump())
    _texts(g, catalogue, DCTERMS.description, info.description.model_dump())
    g.add((catalogue, DCTERMS.publisher,
           _agent(g, info.publisher.name, str(info.publisher.uri) if info.publisher.uri
                  else None)))
    homepage = URIRef(f"{base}/data")
    g.add((catalogue, FOAF.homepage, homepage))
    g.add((homepage, RDF.type, FOAF.Document))
    theme_scheme = URIRef(str(policy.theme_scheme))
    g.add((theme_scheme, RDF.type, SKOS.ConceptScheme))
    g.add((theme_scheme, DCTERMS.title, Literal("Data theme", lang="en")))
    g.add((catalogue, DCAT.themeTaxonomy, theme_scheme))
    for lang in info.language:
        language = URIRef(f"{EU}/language/{_language3(lang)}")
        g.add((language, RDF.type, DCTERMS.LinguisticSystem))
        g.add((catalogue, DCTERMS.language, language))
    if datasets:
        g.add((catalogue, DCTERMS.modified,
               Literal(max(d.modified_at for d in datasets).date(), datatype=XSD.date)))

    theme_names = {t.id: t.name.model_dump() for t in policy.themes}
    for d in datasets:
        ds = URIRef(f"{api}/datasets/{d.slug}")
        page = URIRef(d.landing_page or f"{base}/data/{d.slug}")
        g.add((catalogue, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        _texts(g, ds, DCTERMS.title, d.title)
        _texts(g, ds, DCTERMS.description, d.description)
        g.add((ds, DCTERMS.identifier, Literal(str(ds))))
        g.add((ds, DCTERMS.publisher, _agent(g, d.publisher_name, d.publisher_uri)))
        for theme in d.themes:
            g.add((ds, DCAT.theme, _concept(g, policy.theme_uri(theme), str(theme_scheme),
                                            theme_names.get(theme))))
        space = policy.data_space(d.data_space)
        if space is not None:
            # The data space as a theme of this installation's own scheme, and a link to it.
            node = _concept(g, policy.data_space_uri(space.id), str(policy.data_space_scheme),
                            space.name.model_dump())
            g.add((node, FOAF.homepage, URIRef(str(space.homepage))))
            g.add((ds, DCAT.theme, node))
        for code in d.spatial:
            location = country_uri(code)
            g.add((location, RDF.type, DCTERMS.Location))
            g.add((ds, DCTERMS.spatial, location))
        if d.temporal_start or d.temporal_end:
            period = BNode()
            g.add((period, RDF.type, DCTERMS.PeriodOfTime))
            if d.temporal_start:
                g.add((period, DCAT.startDate, Literal(d.temporal_start, datatype=XSD.date)))
            if d.temporal_end:
                g.add((period, DCAT.endDate, Literal(d.temporal_end, datatype=XSD.date)))
            g.add((ds, DCTERMS.temporal, period))
        for keyword in d.keywords:
            g.add((ds, DCAT.keyword, Literal(keyword)))
        g.add((ds, DCTERMS.issued, Literal(d.issued or d.created_at.date(), datatype=XSD.date)))
        g.add((ds, DCTERMS.modified, Literal(d.modified_at.replace(microsecond=0),
                                             datatype=XSD.dateTime)))
        g.add((ds, DCAT.landingPage, page))
        g.add((page, RDF.type, FOAF.Document))
        rights = URIRef(str(policy.access_level(d.access_level).access_right))
        g.add((rights, RDF.type, DCTERMS.RightsStatement))
        g.add((ds, DCTERMS.accessRights, rights))
        if d.contact_email:
            contact = BNode()
            g.add((contact, RDF.type, VCARD.Kind))
            g.add((contact, VCARD.fn, Literal(d.publisher_name)))
            g.add((contact, VCARD.hasEmail, URIRef(f"mailto:{d.contact_email}")))
            g.add((ds, DCAT.contactPoint, contact))
        lic = policy.licence(d.licence)
        for dist in d.distributions:
            node = URIRef(f"{api}/datasets/{d.slug}/distributions/{dist.id}")
            download = URIRef(f"{api}/datasets/{d.slug}/distributions/{dist.id}/content")
            g.add((ds, DCAT.distribution, node))
            g.add((node, RDF.type, DCAT.Distribution))
            g.add((node, DCTERMS.title, Literal(dist.title or dist.file_name)))
            g.add((node, DCAT.accessURL,
                   download if d.access_level is AccessLevel.open else page))
            g.add((node, DCAT.downloadURL, download))
            fmt = URIRef(f"{EU}/file-type/{dist.file_type}")
            g.add((fmt, RDF.type, DCTERMS.MediaTypeOrExtent))
            g.add((node, DCTERMS.format, fmt))
            media = URIRef(IANA + dist.media_type)
            g.add((media, RDF.type, DCTERMS.MediaType))
            g.add((node, DCAT.mediaType, media))
            g.add((node, DCAT.byteSize, Literal(dist.byte_size,
                                                datatype=XSD.nonNegativeInteger)))
            checksum = BNode()
            g.add((checksum, RDF.type, SPDX.Checksum))
            g.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
            g.add((checksum, SPDX.checksumValue, Literal(dist.sha256, datatype=XSD.hexBinary)))
            g.add((node, SPDX.checksum, checksum))
            g.add((SPDX.checksumAlgorithm_sha256, RDF.type, SPDX.ChecksumAlgorithm))
            g.add((node, DCTERMS.issued, Literal(dist.created_at.date(), datatype=XSD.date)))
            if lic is not None:
                licence = URIRef(str(lic.uri))
                g.add((licence, RDF.type, DCTERMS.LicenseDocument))
                g.add((node, DCTERMS.license, licence))
            g.add((node, DCTERMS.rights, rights))
    return g


_LANG3 = {"en": "ENG", "nl": "NLD", "de": "DEU", "fr": "FRA", "it": "ITA", "es": "SPA"}


def _language3(lang: str) -> str:
    """The EU language table uses ISO 639-2/B-ish three-letter codes in capitals."""
    if lang in _LANG3:
        return _LANG3[lang]
    found = pycountry.languages.get(alpha_2=lang)
    return (getattr(found, "bibliographic", None) or found.alpha_3).upper() if found else \
        lang.upper()


def serialise(g: Graph, media_type: str) -> str:
    if media_type == JSON_LD:
        return g.serialize(format="json-ld", auto_compact=True, indent=2)
    return g.serialize(format="turtle")


def negotiate(accept: str | None) -> str | None:
    """Turtle or JSON-LD by the Accept header's preference; Turtle for */* or none; None
    when the client accepts neither."""
    if not accept or not accept.strip():
        return TURTLE
    offers = {"text/turtle": TURTLE, "application/x-turtle": TURTLE,
              "application/ld+json": JSON_LD, "application/json": JSON_LD,
              "text/*": TURTLE, "application/*": JSON_LD, "*/*": TURTLE}
    ranked: list[tuple[float, int, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media, q = fields[0].lower(), 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if media in offers and q > 0:
            # Higher q first; among equals the more specific type, then the earlier one.
            ranked.append((q, 0 if "*" in media else 1, -position, offers[media]))
    return max(ranked)[3] if ranked else None
