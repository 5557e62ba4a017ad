"""The content-addressed blob store: what is accepted is kept exactly; what is refused leaves
nothing behind."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from fabriek.datalab.storage import LocalBlobStore, key_for, normalise_sha256, verify
from fabriek.errors import BadRequest, TooLarge

pytestmark = pytest.mark.unit


def _files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_stores_the_content_under_its_hash(tmp_path):
    store = LocalBlobStore(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 17)  # several chunks and a tail
    blob = store.put(io.BytesIO(data), max_bytes=10 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    assert (blob.sha256, blob.size, blob.key) == (digest, len(data), key_for(digest))
    path = tmp_path / "sha256" / digest[:2] / digest[2:]
    assert path.read_bytes() == data
    assert oct(path.stat().st_mode & 0o777) == "0o444"
    assert store.exists(blob.key) and verify(store, blob.key, digest)
    with store.open(blob.key) as f:
        assert f.read() == data
    assert _files(tmp_path) == [f"sha256/{digest[:2]}/{digest[2:]}"]  # no temporary left


def test_the_same_content_twice_is_stored_once(tmp_path):
    store = LocalBlobStore(tmp_path)
    a = store.put([b"id,value\n", b"1,2\n"], max_bytes=100)
    b = store.put(io.BytesIO(b"id,value\n1,2\n"), max_bytes=100)
    assert a == b
    assert len(_files(tmp_path)) == 1


def test_over_the_limit_is_refused_and_nothing_is_left(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(TooLarge, match="limit of 1000 bytes"):
        store.put(io.BytesIO(b"x" * 1001), max_bytes=1000)
    assert _files(tmp_path) == []
    blob = store.put(io.BytesIO(b"x" * 1000), max_bytes=1000)  # exactly the limit is fine
    assert blob.size == 1000


def test_a_wrong_expected_checksum_is_refused_and_nothing_is_left(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BadRequest, match="checksum mismatch"):
        store.put(io.BytesIO(b"hello"), max_bytes=100, expected_sha256="0" * 64)
    assert _files(tmp_path) == []
    ok = store.put(io.BytesIO(b"hello"), max_bytes=100,
                   expected_sha256=hashlib.sha256(b"hello").hexdigest())
    assert ok.size == 5


def test_a_failing_stream_leaves_nothing(tmp_path):
    store = LocalBlobStore(tmp_path)

    def broken():
        yield b"part one"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.put(broken(), max_bytes=100)
    assert _files(tmp_path) == []


@pytest.mark.parametrize("key", ["../etc/passwd", "sha256/../../x", "/etc/passwd",
                                 "sha256/ab/" + "c" * 61, "sha256/AB/" + "c" * 62,
                                 "sha256/ab/" + "c" * 61 + "/", "sha256\\ab\\" + "c" * 62])
def test_keys_that_are_not_hashes_never_become_paths(tmp_path, key):
    store = LocalBlobStore(tmp_path)
    for call in (store.open, store.exists, store.delete, store.local_path):
        with pytest.raises(ValueError, match="not a blob key"):
            call(key)


def test_delete_and_a_tampered_blob_is_detected(tmp_path):
    store = LocalBlobStore(tmp_path)
    blob = store.put([b"abc"], max_bytes=10)
    path = store.local_path(blob.key)
    os.chmod(path, 0o644)
    path.write_bytes(b"abd")
    assert not verify(store, blob.key, blob.sha256)
    store.delete(blob.key)
    assert not store.exists(blob.key)


def test_checksums_from_clients_are_normalised():
    h = hashlib.sha256(b"x").hexdigest()
    assert normalise_sha256(f"SHA256:{h.upper()}") == h
    with pytest.raises(BadRequest):
        normalise_sha256("abc")
