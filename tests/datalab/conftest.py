"""Data-lab fixtures: a steward, the policy, a dataset body with real-looking metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fabriek.datalab.policy_files import DatalabPolicy
from fabriek.datalab.service import DatalabConfig
from fabriek.datalab.storage import LocalBlobStore
from fabriek.identity.enums import Role


@pytest.fixture(scope="session")
def datalab_policy() -> DatalabPolicy:
    return DatalabPolicy.load()


@pytest.fixture
def datalab(datalab_policy: DatalabPolicy, tmp_path: Path) -> DatalabConfig:
    return DatalabConfig(policy=datalab_policy, store=LocalBlobStore(tmp_path / "blobs"),
                         max_upload_bytes=1024 * 1024)


@pytest.fixture
def steward(make_person):  # type: ignore[no-untyped-def]
    return make_person("steward@datalab.example", Role.data_steward)


def dataset_body(slug: str = "icu-vitals", **over: Any) -> dict[str, Any]:
    body = {
        "slug": slug,
        "title": {"en": "ICU vital signs, anonymised", "nl": "Vitale functies op de IC"},
        "description": {"en": "Hourly vital signs of intensive-care stays, anonymised."},
        "publisher_name": "Example University Medical Centre",
        "publisher_uri": "https://umc.example.eu/",
        "themes": ["HEAL"], "data_space": "health", "licence": "restricted",
        "spatial": ["NL"], "temporal_start": "2019-01-01", "temporal_end": "2023-12-31",
        "keywords": ["intensive care", "vital signs", "gezondheid"],
        "access_level": "approval",
    }
    return {**body, **over}


@pytest.fixture
def client(database, access, datalab: DatalabConfig, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The API with the data lab's store in tmp_path/blobs and a 1 MiB upload limit."""
    from fastapi.testclient import TestClient

    from fabriek.api.app import create_app
    from fabriek.settings import Settings

    app = create_app(Settings(data_dir=tmp_path), database=database, access=access,
                     run_reconciler=False, datalab=datalab)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


API = "/api/v1/datalab"


def publish(client, steward, slug: str = "icu-vitals", **over: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(f"{API}/datasets", json=dataset_body(slug, **over), headers=steward.headers)
    assert r.status_code == 201, r.text
    return r.json()


def upload(client, steward, slug: str, name: str, data: bytes,  # type: ignore[no-untyped-def]
           **headers: str):
    return client.post(f"{API}/datasets/{slug}/distributions", params={"file_name": name},
                       content=data, headers={**steward.headers, **headers})


def blob_files(cfg: DatalabConfig) -> list[Path]:
    root = cfg.store.root  # type: ignore[attr-defined]
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
