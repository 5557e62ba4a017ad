"""Where the data labs' files live: a content-addressed blob store behind a small protocol.

`LocalBlobStore` (the default) keeps each file once under `<root>/sha256/ab/cdef…` (the hex
SHA-256 split after two characters). A write goes to a temporary file in `<root>/tmp` (the same
file system, so the final rename is atomic), is hashed while it streams, fsynced, and renamed
into place; a write that passes its byte limit, or whose checksum is not the one the caller
expected, is aborted and leaves nothing behind. Keys are made here from the hash, never from
user input, and every key is checked against that shape before it becomes a path, so no key
can reach outside the root.

An S3-compatible store can implement the same protocol later: `begin` as a multipart upload to
a temporary object (hashing the parts as they pass), `commit` as a server-side copy to
`sha256/<hex>` (or a conditional put) and a delete of the temporary object, `open` as a
streaming GET, `exists` as HEAD, and `local_path` by downloading to a cache directory (staging
needs a file next to the job).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from fabriek.errors import BadRequest, NotFound, TooLarge
from fabriek.settings import Settings

CHUNK = 1024 * 1024
_KEY = re.compile(r"^sha256/([0-9a-f]{2})/([0-9a-f]{62})$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    key: str
    # Whether this write created the file (False: the same content was stored already). A
    # caller that fails after storing removes only a blob it created and nothing else uses.
    new: bool = field(default=False, compare=False)


class BlobWriter(Protocol):
    """One write in progress: feed it chunks, then commit (or abort)."""

    @property
    def size(self) -> int: ...

    def write(self, chunk: bytes) -> None:
        """Raises TooLarge (and aborts) when the limit is passed."""

    def commit(self, expected_sha256: str | None = None) -> StoredBlob:
        """Raises BadRequest (and aborts) when the content's hash is not `expected_sha256`."""

    def abort(self) -> None:
        """Throw away what was written; safe to call twice or after commit."""


class BlobStore(Protocol):
    def begin(self, *, max_bytes: int) -> BlobWriter: ...

    def put(self, stream: BinaryIO | Iterable[bytes], *, max_bytes: int,
            expected_sha256: str | None = None) -> StoredBlob: ...

    def open(self, key: str) -> BinaryIO: ...

    def local_path(self, key: str) -> Path:
        """A file on this machine with the blob's content (for staging); do not modify it."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


def key_for(sha256: str) -> str:
    if not _HEX64.match(sha256):
        raise ValueError("not a lower-case hex SHA-256")
    return f"sha256/{sha256[:2]}/{sha256[2:]}"


def normalise_sha256(value: str) -> str:
    """A checksum as a client may send it (hex, any case, optional `sha256:` prefix)."""
    text = value.strip()
    if text.lower().startswith("sha256:"):
        text = text[7:]
    text = text.lower()
    if not _HEX64.match(text):
        raise BadRequest("a SHA-256 checksum is 64 hexadecimal characters")
    return text


class _LocalWriter:
    def __init__(self, store: LocalBlobStore, max_bytes: int) -> None:
        self._store = store
        self._max = max_bytes
        self._hash = hashlib.sha256()
        self._size = 0
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = store.tmp_dir / f"upload-{secrets.token_hex(12)}"
        # O_EXCL: a fresh name, never an existing file (or a link planted there).
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    @property
    def size(self) -> int:
        return self._size

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise RuntimeError("write after commit or abort")
        if self._size + len(chunk) > self._max:
            self.abort()
            raise TooLarge(f"the file is larger than the limit of {self._max} bytes; "
                           "nothing was stored", limit_bytes=self._max)
        self._hash.update(chunk)
        self._file.write(chunk)
        self._size += len(chunk)

    def commit(self, expected_sha256: str | None = None) -> StoredBlob:
        if self._file is None:
            raise RuntimeError("commit after abort")
        digest = self._hash.hexdigest()
        if expected_sha256 is not None and expected_sha256 != digest:
            self.abort()
            raise BadRequest(f"checksum mismatch: the file's SHA-256 is {digest}, the request "
                             f"said {expected_sha256}; nothing was stored",
                             sha256=digest, expected=expected_sha256)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        key = key_for(digest)
        final = self._store.path_for(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        new = not final.exists()
        if new:
            os.chmod(self._tmp, 0o444)
            os.replace(self._tmp, final)
            _fsync_dir(final.parent)
        else:
            # The same content is stored already (content addressing): keep the first copy.
            self._tmp.unlink(missing_ok=True)
        return StoredBlob(sha256=digest, size=self._size, key=key, new=new)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Content-addressed files under one directory (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"

    def path_for(self, key: str) -> Path:
        m = _KEY.match(key)
        if m is None:
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / "sha256" / m.group(1) / m.group(2)

    def begin(self, *, max_bytes: int) -> BlobWriter:
        return _LocalWriter(self, max_bytes)

    def put(self, stream: BinaryIO | Iterable[bytes], *, max_bytes: int,
            expected_sha256: str | None = None) -> StoredBlob:
        writer = self.begin(max_bytes=max_bytes)
        try:
            chunks: Iterable[bytes] = (iter(lambda: stream.read(CHUNK), b"")  # type: ignore[union-attr]
                                       if hasattr(stream, "read") else stream)
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit(expected_sha256)
        except BaseException:
            writer.abort()
            raise

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path_for(key).open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key} is missing from the store") from exc

    def local_path(self, key: str) -> Path:
        path = self.path_for(key)
        if not path.is_file():
            raise NotFound(f"blob {key} is missing from the store")
        return path

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def sweep_temp(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove temporary files a crashed process left behind; returns how many."""
        if not self.tmp_dir.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.tmp_dir.iterdir():
            if path.name.startswith("upload-") and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def verify(store: BlobStore, key: str, sha256: str) -> bool:
    """Whether the stored content still hashes to `sha256` (reads the whole blob)."""
    digest = hashlib.sha256()
    with store.open(key) as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest() == sha256


def store_for(settings: Settings) -> LocalBlobStore:
    """The blob store this installation is configured with."""
    return LocalBlobStore(settings.datalab_blob_dir or settings.data_dir / "blobs")
