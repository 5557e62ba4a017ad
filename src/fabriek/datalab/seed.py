"""The datasets every installation starts with: real, small, open data the project carries.

- `ai-factories`: the EuroHPC AI Factories and Antennas catalogue (federation/data);
- `eu-ai-act`: Regulation (EU) 2024/1689 in English and Dutch as JSON (compliance/data);
- `philly-gpu-trace`: 15,000 real GPU jobs of Microsoft's Philly cluster (federation/data/traces).

Each is published as SYSTEM (no steward: an access officer names stewards with `fabriek data
stewards`), with its README beside it as a second file, and the licence its README states.
Seeding runs after every upgrade to head (`cli/inprocess.seed_catalogue`) and is idempotent:
a dataset is created once, a file added once; a slug a steward took first is left alone; a
file missing from the blob store (a new data directory) is put back from the package.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabriek.datalab.models import Dataset, Distribution
from fabriek.datalab.schemas import DatasetCreate
from fabriek.datalab.service import DatalabConfig, add_distribution, create_dataset
from fabriek.identity.principal import SYSTEM

log = logging.getLogger("fabriek.datalab.seed")
SEED_VERSION = "2026-11-21"


@dataclass(frozen=True)
class SeedFile:
    where: str  # "<package>:<folder>" in the installed package
    name: str
    title: str


@dataclass(frozen=True)
class Seed:
    key: str
    metadata: dict[str, Any]
    files: list[SeedFile] = field(default_factory=list)


def _factory_countries() -> list[str]:
    """The countries of the catalogue's rows, from the CSV itself."""
    from fabriek.federation.catalogue import country_code

    text = resources.files("fabriek.federation").joinpath(
        "data", "ai-factories.csv").read_text(encoding="utf-8")
    codes = {country_code(row["country"]) for row in csv.DictReader(io.StringIO(text))}
    return sorted(c for c in codes if c)


def seeds() -> list[Seed]:
    return [
        Seed("ai-factories", {
            "slug": "ai-factories",
            "title": {"en": "EuroHPC AI Factories and AI Factory Antennas (2024–2025)",
                      "nl": "EuroHPC AI-fabrieken en AI Factory-antennes (2024–2025)"},
            "description": {
                "en": "The 19 AI Factories and 13 AI Factory Antennas selected by the EuroHPC "
                      "Joint Undertaking in 2024–2025, one row each: host site, hosting "
                      "entity, consortium, supercomputer and its status, accelerators where a "
                      "source states them, sector focus, linked factory, investment as "
                      "reported, and the sources consulted. Assembled by hand from public "
                      "announcements; accelerator counts are mostly not disclosed. The "
                      "README beside the CSV gives the columns, provenance and caveats.",
                "nl": "De 19 AI-fabrieken en 13 AI Factory-antennes die de EuroHPC "
                      "Gemeenschappelijke Onderneming in 2024–2025 selecteerde, één rij per "
                      "stuk: locatie, organisatie, consortium, supercomputer, sectoren, "
                      "investering en bronnen. De README beschrijft kolommen en herkomst."},
            "publisher_name": "Fabriek project (compiled from EuroHPC JU and host "
                              "announcements)",
            "themes": ["TECH", "ECON"], "data_space": "research", "licence": "EUPL-1.2",
            "spatial": ["EU", *_factory_countries()],
            "temporal_start": "2024-12-10", "temporal_end": "2025-10-13",
            "keywords": ["AI Factories", "AI Factory Antennas", "EuroHPC", "supercomputers",
                         "GPUs", "AI-fabrieken"],
            "access_level": "open",
            "landing_page": "https://eurohpc-ju.europa.eu/",
            "issued": "2026-11-21",
        }, [SeedFile("fabriek.federation:data", "ai-factories.csv",
                     "The catalogue (UTF-8 CSV, RFC 4180)"),
            SeedFile("fabriek.federation:data", "README.md", "Columns, provenance, caveats")]),
        Seed("eu-ai-act", {
            "slug": "eu-ai-act",
            "title": {"en": "EU AI Act (Regulation (EU) 2024/1689), English and Dutch, as JSON",
                      "nl": "AI-verordening (Verordening (EU) 2024/1689), Engels en "
                            "Nederlands, als JSON"},
            "description": {
                "en": "The text of the Artificial Intelligence Act as published in the "
                      "Official Journal of 12 July 2024 (no corrigenda applied): 180 "
                      "recitals, 113 articles and 13 annexes per language, each article with "
                      "its paragraphs and EUR-Lex anchors; plus extracts of the risk lists "
                      "(Art. 5(1), Annex III, Art. 6(3), Annex I). Unofficial conversions: "
                      "only the Official Journal is authentic. Source: © European Union, "
                      "https://eur-lex.europa.eu/ (CELEX 32024R1689).",
                "nl": "De tekst van de AI-verordening zoals gepubliceerd in het Publicatieblad "
                      "van 12 juli 2024 (zonder rectificaties): 180 overwegingen, 113 artikelen "
                      "en 13 bijlagen per taal. Niet-officiële omzetting; alleen het "
                      "Publicatieblad is authentiek. Bron: © Europese Unie, EUR-Lex."},
            "publisher_name": "Publications Office of the European Union (EUR-Lex)",
            "publisher_uri": "http://publications.europa.eu/resource/authority/corporate-body/"
                             "PUBL",
            "themes": ["JUST", "GOVE", "TECH"], "data_space": "language",
            "licence": "EU-COM-REUSE", "spatial": ["EU"],
            "temporal_start": "2024-07-12",
            "keywords": ["AI Act", "Artificial Intelligence Act", "regulation", "EUR-Lex",
                         "legal text", "AI-verordening"],
            "access_level": "open",
            "landing_page": "https://eur-lex.europa.eu/eli/reg/2024/1689/oj/eng",
            "issued": "2026-11-21",
        }, [SeedFile("fabriek.compliance:data", "ai_act_en.json", "English text"),
            SeedFile("fabriek.compliance:data", "ai_act_nl.json", "Dutch text"),
            SeedFile("fabriek.compliance:data", "ai_act_risk_lists_en.json",
                     "Risk-classification extracts (English)"),
            SeedFile("fabriek.compliance:data", "README.md", "Schema, provenance, licence")]),
        Seed("philly-gpu-trace", {
            "slug": "philly-gpu-trace",
            "title": {"en": "Microsoft Philly GPU cluster trace: 15,000 deep-learning jobs "
                            "(2017)",
                      "nl": "GPU-clustertrace van Microsoft Philly: 15.000 deep-learningtaken "
                            "(2017)"},
            "description": {
                "en": "15,000 real deep-learning training jobs from Microsoft's multi-tenant "
                      "GPU cluster Philly (submission time, duration, GPUs, user, status), "
                      "2017-08-07 to 2017-12-22; the real-job subset of the msr-fiddle "
                      "philly-traces used in JSSPP 2024. Cite Jeon et al., USENIX ATC 2019, "
                      "and Soundar Raj et al., JSSPP 2024 (see the README).",
                "nl": "15.000 echte trainingstaken van Microsofts GPU-cluster Philly (2017): "
                      "indientijd, duur, GPU's, gebruiker en status."},
            "publisher_name": "Microsoft Research (Project Fiddle)",
            "themes": ["TECH"], "data_space": "research", "licence": "CC-BY-4.0",
            "spatial": ["US"], "temporal_start": "2017-08-07", "temporal_end": "2017-12-22",
            "keywords": ["GPU cluster", "job trace", "deep learning", "scheduling",
                         "Philly", "HPC"],
            "access_level": "open",
            "landing_page": "https://github.com/msr-fiddle/philly-traces",
            "issued": "2026-11-21",
        }, [SeedFile("fabriek.federation:data/traces", "philly_15k_jobs.csv.gz",
                     "The trace (gzip-compressed CSV)"),
            SeedFile("fabriek.federation:data/traces", "README.md",
                     "Licence, citations, provenance, format")]),
    ]


def _open(f: SeedFile):  # type: ignore[no-untyped-def]
    package, folder = f.where.split(":")
    return resources.files(package).joinpath(*folder.split("/"), f.name).open("rb")


def seed_datasets(session: Session, cfg: DatalabConfig, *, today: date | None = None
                  ) -> list[str]:
    """Publish the seed datasets that are missing; returns the slugs of those changed."""
    changed: list[str] = []
    for seed in seeds():
        dataset = session.execute(select(Dataset).where(
            Dataset.slug == seed.metadata["slug"])).scalar()
        if dataset is None:
            dataset = create_dataset(session, SYSTEM, DatasetCreate(**seed.metadata), cfg=cfg,
                                     seed=f"{seed.key}@{SEED_VERSION}")
            changed.append(dataset.slug)
        elif dataset.seed is None:
            log.warning("dataset %s was published by a steward; the seed leaves it alone",
                        dataset.slug)
            continue
        existing = {d.file_name: d for d in session.execute(select(Distribution).where(
            Distribution.dataset_id == dataset.id)).scalars()}
        for f in seed.files:
            fmt = cfg.policy.format_for(f.name)
            assert fmt is not None, f"no upload format for {f.name}"
            dist = existing.get(f.name)
            if dist is not None and cfg.store.exists(dist.blob_key):
                continue
            with _open(f) as stream:
                blob = cfg.store.put(stream, max_bytes=max(cfg.max_upload_bytes, 1 << 30))
            if dist is None:
                add_distribution(session, SYSTEM, dataset, f.name, fmt, blob, title=f.title)
                if dataset.slug not in changed:
                    changed.append(dataset.slug)
            elif blob.sha256 != dist.sha256:
                log.warning("seed file %s of %s differs from the one recorded; restored the "
                            "packaged copy under its own hash", f.name, dataset.slug)
    session.flush()
    return changed
