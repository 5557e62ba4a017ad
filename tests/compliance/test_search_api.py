"""`GET /api/v1/act/ask` on the real app, and the `ask` command through the API client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fabriek.access.service import AccessConfig
from fabriek.api.app import create_app
from fabriek.cli import act_ask
from fabriek.cli.context import CliContext
from fabriek.client import FabriekClient
from fabriek.compliance.search import service as search_service
from fabriek.db.session import Database
from fabriek.settings import Settings
from tests.compliance.search_support import full_text

pytestmark = pytest.mark.integration


@pytest.fixture
def api(database: Database, access: AccessConfig, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(
        Settings(data_dir=tmp_path), database=database, access=access, run_reconciler=False
    )
    # The run's shared full-text searcher, so each test does not rebuild the index (and does
    # not start building embeddings in the background).
    app.state.act_search = full_text()
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_ask_is_public_and_answers_with_quotes_and_links(api: TestClient) -> None:
    r = api.get("/api/v1/act/ask", params={"q": "Is social scoring prohibited?", "limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lang"] == "en"
    assert body["mode"] == "full-text"
    assert len(body["results"]) == 3
    top = body["results"][0]
    assert top["item"] == "Article 5"
    assert top["citation"] == "Article 5(1)(c)"
    assert "social" in top["quote"]
    assert top["link"] == "https://eur-lex.europa.eu/eli/reg/2024/1689/oj/eng#art_5"


def test_ask_in_dutch(api: TestClient) -> None:
    r = api.get("/api/v1/act/ask", params={"q": "Is sociale scoring verboden?", "lang": "nl"})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["citation"] == "Artikel 5, lid 1, punt c)"


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"q": ""}, "the question is empty"),
        ({"q": "x" * 501}, "at most 500"),
        ({"q": "fines\x07"}, "U+0007"),
        ({"q": "fines", "lang": "fr"}, "language 'fr' is not available"),
        ({"q": "fines", "limit": 0}, "limit"),
        ({"q": "fines", "limit": 21}, "limit"),
        ({}, "q: Field required"),
    ],
)
def test_bad_questions_are_problem_json(
    api: TestClient, params: dict[str, object], detail: str
) -> None:
    r = api.get("/api/v1/act/ask", params=params)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert detail in r.json()["detail"]


def test_the_app_makes_its_searcher_under_the_data_dir(
    database: Database, access: AccessConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As without the extra: otherwise the app starts embedding the corpus in a background
    # thread, which outlives the test (tests/compliance/test_search_semantic.py covers that).
    monkeypatch.setattr(search_service.embeddings, "missing_packages", lambda: ["torch"])
    app = create_app(
        Settings(data_dir=tmp_path), database=database, access=access, run_reconciler=False
    )
    with TestClient(app) as client:
        r = client.get("/api/v1/act/ask", params={"q": "AI literacy", "lang": "en"})
    assert r.status_code == 200, r.text
    assert list((tmp_path / "cache" / "act-search").glob("act-index-en-*.sqlite"))


def _cli(api: TestClient, *args: str):  # type: ignore[no-untyped-def]
    def client_factory(server: str, token: str | None) -> FabriekClient:
        return FabriekClient.from_httpx(api, token, backoff=0)

    return CliRunner().invoke(
        act_ask.app,
        list(args),
        obj=CliContext(client_factory=client_factory),
        env={"FABRIEK_TOKEN": None, "FABRIEK_SERVER": None},
    )


def test_cli_ask_prints_citations_quotes_and_links(api: TestClient) -> None:
    result = _cli(api, "ask", "Is emotion recognition in the workplace prohibited?", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "Article 5(1)(f)" in result.output
    assert "eur-lex.europa.eu/eli/reg/2024/1689/oj/eng#art_5" in result.output
    assert "language detected as English" in result.output
    assert "Not legal advice" in result.output


def test_cli_ask_json_in_dutch(api: TestClient) -> None:
    result = _cli(api, "ask", "Welke boetes gelden er?", "--lang", "nl", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["lang"] == "nl"
    assert any(p["item"] == "Article 99" for p in answer["results"])


def test_cli_ask_bad_question_is_one_clear_error(api: TestClient) -> None:
    result = _cli(api, "ask", "   ")
    assert result.exit_code == 1
    assert "the question is empty" in result.output
