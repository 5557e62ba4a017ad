"""Uploading a distribution: streamed, checksummed, and refused whole when anything is wrong
(nothing written: no blob, no row)."""

from __future__ import annotations

import hashlib

import pytest

from fabriek.datalab.models import Distribution
from tests.api.helpers import problem, row_counts
from tests.datalab.conftest import API, blob_files, publish, upload

pytestmark = pytest.mark.integration

CSV = b"factory,country,gpus\nlumi,FI,4096\nmeluxina-ai,LU,2100\n"


def test_upload_stores_the_file_and_returns_its_checksum(client, steward, datalab, database):
    publish(client, steward)
    digest = hashlib.sha256(CSV).hexdigest()
    r = upload(client, steward, "icu-vitals", "vitals.csv", CSV,
               **{"X-Checksum-Sha256": f"sha256:{digest.upper()}"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["sha256"], body["byte_size"], body["media_type"], body["file_type"]) == (
        digest, len(CSV), "text/csv", "CSV")
    assert r.headers["X-Checksum-Sha256"] == digest
    [path] = blob_files(datalab)
    assert path.read_bytes() == CSV and path.name == digest[2:]
    # The steward downloads it back: same bytes, same checksum in the headers.
    d = client.get(f"{API}/datasets/icu-vitals/distributions/{body['id']}/content",
                   headers=steward.headers)
    assert d.status_code == 200, d.text
    assert d.content == CSV
    assert d.headers["X-Checksum-Sha256"] == digest
    assert d.headers["content-disposition"].startswith('attachment; filename="vitals.csv"')
    shown = client.get(f"{API}/datasets/icu-vitals").json()
    assert [x["file_name"] for x in shown["distributions"]] == ["vitals.csv"]
    assert shown["byte_size"] == len(CSV)


def test_a_large_file_streams_through_in_pieces(client, steward, datalab):
    publish(client, steward)
    data = b"id,value\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(60_000))
    assert len(data) > 800_000  # several of the API's 1 MiB write buffers' worth of chunks

    def pieces():
        for i in range(0, len(data), 65_536):
            yield data[i:i + 65_536]

    r = client.post(f"{API}/datasets/icu-vitals/distributions",
                    params={"file_name": "squares.csv"}, content=pieces(),
                    headers=steward.headers)
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()


BAD = [
    # (file name, body, headers, status, code, what the message says)
    ("../escape.csv", CSV, {}, 400, "bad_request", "not a path"),
    ("/etc/passwd.csv", CSV, {}, 400, "bad_request", "not a path"),
    ("..\\escape.csv", CSV, {}, 400, "bad_request", "not a path"),
    ("nul\x00.csv", CSV, {}, 400, "bad_request", "NUL"),
    ("line\nbreak.csv", CSV, {}, 400, "bad_request", "control character"),
    (".hidden.csv", CSV, {}, 400, "bad_request", "must not start with '.'"),
    ("program.exe", CSV, {}, 400, "bad_request", "not accepted"),
    ("vitals.csv", b"", {}, 400, "bad_request", "empty"),
    ("vitals.csv", b"\x89PNG\r\n\x1a\n\x00\x00", {}, 400, "bad_request", "NUL byte"),
    ("vitals.csv", b"caf\xe9,1\n", {}, 400, "bad_request", "not UTF-8"),
    ("vitals.json", b"id,value\n1,2\n", {}, 400, "bad_request", "starts with 'i'"),
    ("vitals.parquet", b"PAR1 but not really", {}, 400, "bad_request", "PAR1"),
    ("vitals.csv.gz", CSV, {}, 400, "bad_request", "gzip signature"),
    ("vitals.csv", CSV, {"X-Checksum-Sha256": "0" * 64}, 400, "bad_request",
     "checksum mismatch"),
    ("vitals.csv", CSV, {"X-Checksum-Sha256": "not-a-checksum"}, 400, "bad_request",
     "64 hexadecimal"),
    ("vitals.csv", b"a,b\n" + b"1,2\n" * 300_000, {}, 413, "too_large", "limit"),
]


@pytest.mark.parametrize(("name", "data", "headers", "status", "code", "says"), BAD,
                         ids=[f"{i}-{b[5]}" for i, b in enumerate(BAD)])
def test_bad_uploads_are_refused_and_nothing_is_written(client, steward, datalab, database,
                                                        name, data, headers, status, code,
                                                        says):
    publish(client, steward)
    before = row_counts(database)
    r = upload(client, steward, "icu-vitals", name, data, **headers)
    body = problem(r, status, code)
    assert says in body["detail"], body
    assert row_counts(database) == before
    assert blob_files(datalab) == []


def test_a_declared_size_over_the_limit_is_refused_before_reading(client, steward, datalab,
                                                                  database):
    publish(client, steward)
    before = row_counts(database)

    def never():  # the body would fail the test if anyone read it
        raise AssertionError("the body was read")
        yield b""

    r = client.post(f"{API}/datasets/icu-vitals/distributions",
                    params={"file_name": "big.csv"}, content=never(),
                    headers={**steward.headers, "Content-Length": str(2 * 1024 * 1024)})
    problem(r, 413, "too_large")
    assert row_counts(database) == before and blob_files(datalab) == []


def test_only_the_datasets_stewards_upload(client, steward, make_person, datalab, database):
    from fabriek.identity.enums import Role

    publish(client, steward)
    other_steward = make_person("other@datalab.example", Role.data_steward)
    applicant = make_person("a@lumen.example")
    before = row_counts(database)
    for who in (other_steward, applicant):
        problem(upload(client, who, "icu-vitals", "x.csv", CSV), 403, "forbidden")
    problem(client.post(f"{API}/datasets/icu-vitals/distributions",
                        params={"file_name": "x.csv"}, content=CSV), 401, "unauthenticated")
    problem(upload(client, steward, "no-such-dataset", "x.csv", CSV), 404, "not_found")
    assert row_counts(database) == before and blob_files(datalab) == []


def test_a_file_name_is_used_once_per_dataset_and_same_content_is_stored_once(
        client, steward, datalab, database):
    publish(client, steward)
    publish(client, steward, "icu-vitals-copy")
    assert upload(client, steward, "icu-vitals", "a.csv", CSV).status_code == 201
    problem(upload(client, steward, "icu-vitals", "a.csv", CSV), 409, "conflict")
    assert upload(client, steward, "icu-vitals-copy", "a.csv", CSV).status_code == 201
    assert len(blob_files(datalab)) == 1
    with database.unit_of_work(readonly=True) as s:
        assert s.query(Distribution).count() == 2


def test_deleting_an_unread_file_removes_the_blob_when_nothing_else_uses_it(
        client, steward, datalab):
    publish(client, steward)
    first = upload(client, steward, "icu-vitals", "a.csv", CSV).json()
    second = upload(client, steward, "icu-vitals", "b.csv", CSV).json()
    r = client.delete(f"{API}/datasets/icu-vitals/distributions/{first['id']}",
                      headers=steward.headers)
    assert r.status_code == 204
    assert len(blob_files(datalab)) == 1  # b.csv still uses it
    client.get(f"{API}/datasets/icu-vitals/distributions/{second['id']}/content",
               headers=steward.headers)  # now it has been read: it stays
    problem(client.delete(f"{API}/datasets/icu-vitals/distributions/{second['id']}",
                          headers=steward.headers), 409, "conflict")


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(client, steward, datalab,
                                                                database):
    publish(client, steward)
    before = row_counts(database)

    def pieces():  # 2 MiB in 64 KiB pieces, sent chunked: no Content-Length to refuse early
        for _ in range(32):
            yield b"1,2\n" * 16_384

    # (The test client gathers the body before the app sees it: keep it finite.)
    r = client.post(f"{API}/datasets/icu-vitals/distributions",
                    params={"file_name": "long.csv"}, content=pieces(),
                    headers=steward.headers)
    assert "content-length" not in {k.lower() for k in r.request.headers}
    problem(r, 413, "too_large")
    assert row_counts(database) == before and blob_files(datalab) == []
    assert not list((datalab.store.root / "tmp").iterdir())


def test_an_upload_retried_with_its_idempotency_key_gets_the_first_answer(
        client, steward, datalab, database):
    publish(client, steward)
    key = {"Idempotency-Key": "vitals-2026-11-21"}
    first = upload(client, steward, "icu-vitals", "vitals.csv", CSV, **key)
    assert first.status_code == 201, first.text
    counts = row_counts(database)

    retry = upload(client, steward, "icu-vitals", "vitals.csv", CSV, **key)

    assert retry.status_code == 201, retry.text
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert row_counts(database) == counts and len(blob_files(datalab)) == 1
    # The same key with other bytes is another request: refused, nothing kept.
    other = upload(client, steward, "icu-vitals", "vitals.csv", CSV + b"luxprovide,LU,800\n",
                   **key)
    problem(other, 409, "conflict")
    assert row_counts(database) == counts and len(blob_files(datalab)) == 1
    # Without the key, a second upload of the name is a conflict, as before.
    problem(upload(client, steward, "icu-vitals", "vitals.csv", CSV), 409, "conflict")
