"""The catalogue through the API: public reading, search and filters, stewards' changes (and
nobody else's), bad metadata refused with nothing written, withdrawal, stewards."""

from __future__ import annotations

import pytest

from fabriek.identity.enums import Role
from tests.api.helpers import audit_actions, problem, row_counts
from tests.datalab.conftest import API, dataset_body, publish

pytestmark = pytest.mark.integration


def test_anyone_reads_and_searches_the_catalogue(client, steward):
    publish(client, steward)
    publish(client, steward, "nl-traffic-counts", title={"en": "Traffic counts on Dutch "
                                                             "motorways"},
            description={"en": "Loop detector counts per minute."}, themes=["TRAN"],
            data_space="mobility", licence="CC0-1.0", access_level="open",
            keywords=["verkeer", "traffic"])
    everyone = client.get(f"{API}/datasets").json()["items"]
    assert [d["slug"] for d in everyone] == ["icu-vitals", "nl-traffic-counts"]
    for params, expected in (({"q": "motorways"}, ["nl-traffic-counts"]),
                             ({"q": "VERKEER"}, ["nl-traffic-counts"]),
                             ({"q": "vital signs"}, ["icu-vitals"]),
                             ({"q": "vital motorways"}, []),
                             ({"q": "100%"}, []),
                             ({"theme": "TRAN"}, ["nl-traffic-counts"]),
                             ({"data_space": "health"}, ["icu-vitals"]),
                             ({"access_level": "open"}, ["nl-traffic-counts"]),
                             ({"licence": "CC0-1.0"}, ["nl-traffic-counts"])):
        got = client.get(f"{API}/datasets", params=params).json()["items"]
        assert [d["slug"] for d in got] == expected, params
    shown = client.get(f"{API}/datasets/icu-vitals").json()
    assert shown["access"]["needs_grant"] and not shown["access"]["needs_permit"]
    assert shown["licence_uri"] == "https://w3id.org/fabriek/licence/restricted"
    page = client.get(f"{API}/datasets", params={"limit": 1}).json()
    assert page["next_after"] == page["items"][0]["id"]
    problem(client.get(f"{API}/datasets", headers={"Authorization": "Bearer nonsense"}), 401,
            "unauthenticated")


BAD_METADATA = [
    ({"slug": "../x"}, 422), ({"slug": "a b"}, 422), ({"title": {"nl": "alleen"}}, 422),
    ({"title": {"english": "x"}}, 422), ({"title": {"en": "nul\x00"}}, 422),
    ({"spatial": ["XX"]}, 422), ({"temporal_start": "2024-01-02",
                                  "temporal_end": "2024-01-01"}, 422),
    ({"access_level": "secret"}, 422), ({"extra": 1}, 422),
    ({"licence": "WTFPL"}, 400), ({"data_space": "moon"}, 400), ({"themes": ["SPACE"]}, 400),
    ({"factory_id": "atlantis"}, 400),
]


@pytest.mark.parametrize(("over", "status"), BAD_METADATA, ids=[str(b[0]) for b in BAD_METADATA])
def test_bad_metadata_is_refused_and_nothing_written(client, steward, database, over, status):
    before = row_counts(database)
    r = client.post(f"{API}/datasets", json={**dataset_body(), **over}, headers=steward.headers)
    assert r.status_code == status, r.text
    assert row_counts(database) == before


def test_stewards_change_their_dataset_others_cannot(client, steward, make_person, database):
    ds = publish(client, steward)
    other = make_person("other@datalab.example", Role.data_steward)
    officer = make_person("o@eurohpc.example", Role.access_officer)
    before = row_counts(database)
    for who in (other, officer):
        problem(client.patch(f"{API}/datasets/icu-vitals", headers=who.headers,
                             json={"access_level": "open"}), 403, "forbidden")
    problem(client.patch(f"{API}/datasets/icu-vitals", headers=steward.headers,
                         json={"licence": None}), 400, "bad_request")
    assert row_counts(database) == before
    r = client.patch(f"{API}/datasets/icu-vitals", headers=steward.headers,
                     json={"access_level": "permit", "keywords": ["ICU"]})
    assert r.status_code == 200 and r.json()["access_level"] == "permit"
    assert audit_actions(database, "dataset.updated", ds["id"]) == 1
    # An access officer names the stewards (only people with the role).
    problem(client.put(f"{API}/datasets/icu-vitals/stewards", headers=officer.headers,
                       json={"emails": ["o@eurohpc.example"]}), 400, "bad_request")
    r = client.put(f"{API}/datasets/icu-vitals/stewards", headers=officer.headers,
                   json={"emails": ["other@datalab.example"]})
    assert r.json() == [other.user_id]
    problem(client.patch(f"{API}/datasets/icu-vitals", headers=steward.headers,
                         json={"keywords": ["mine"]}), 403, "forbidden")
    assert client.patch(f"{API}/datasets/icu-vitals", headers=other.headers,
                        json={"keywords": ["theirs"]}).status_code == 200


def test_a_withdrawn_dataset_is_gone_for_everyone_but_its_stewards(client, steward,
                                                                   make_person):
    publish(client, steward)
    applicant = make_person("a@lumen.example")
    problem(client.post(f"{API}/datasets/icu-vitals/withdraw", headers=applicant.headers,
                        json={"reason": "x"}), 403, "forbidden")
    r = client.post(f"{API}/datasets/icu-vitals/withdraw", headers=steward.headers,
                    json={"reason": "superseded"})
    assert r.status_code == 200 and r.json()["withdrawn_at"]
    problem(client.get(f"{API}/datasets/icu-vitals"), 404, "not_found")
    problem(client.get(f"{API}/datasets/icu-vitals", headers=applicant.headers), 404,
            "not_found")
    assert client.get(f"{API}/datasets").json()["items"] == []
    assert client.get(f"{API}/datasets/icu-vitals", headers=steward.headers).status_code == 200
    mine = client.get(f"{API}/datasets", params={"withdrawn": "true"}, headers=steward.headers)
    assert [d["slug"] for d in mine.json()["items"]] == ["icu-vitals"]
    assert client.get(f"{API}/datasets", params={"withdrawn": "true"},
                      headers=applicant.headers).json()["items"] == []
    problem(client.post(f"{API}/datasets/icu-vitals/distributions",
                        params={"file_name": "late.csv"}, content=b"a\n1\n",
                        headers=steward.headers), 409, "conflict")
