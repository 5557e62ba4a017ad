"""The data-lab part of the Python client: `FabriekClient(...).datalab`.

    with FabriekClient(server, token) as fab:
        ds = fab.datalab.create(yaml.safe_load(open("dataset.yaml")))
        dist = fab.datalab.upload(ds.slug, Path("vitals.csv"))      # streamed, checksummed
        fab.datalab.download(ds.slug, dist.id, Path("copy.csv"))    # verified on arrival

Uploads and downloads stream in 1 MiB pieces and call `progress(bytes_so_far)` after each;
both compute the SHA-256 on the way and refuse a mismatch (an upload sends its checksum in
`X-Checksum-Sha256`, so the server refuses it too; a download is written to a temporary file
beside the target and renamed only once it verified).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fabriek.client.errors import FabriekApiError
from fabriek.datalab.schemas import (
    AccessRequestRead,
    DatasetRead,
    DatasetSummary,
    DistributionRead,
    GrantRead,
    ReadRead,
    SweepResult,
)

if TYPE_CHECKING:
    from fabriek.client.http import FabriekClient

CHUNK = 1024 * 1024
Progress = Callable[[int], None]
PREFIX = "/datalab"


class ChecksumMismatch(Exception):
    """What arrived is not what the server said it sent (nothing was kept)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _body(data: Any) -> Any:
    from fabriek.client.http import _json_body

    return _json_body(data)


class DataLab:
    def __init__(self, client: FabriekClient) -> None:
        self._c = client

    # --- the catalogue ------------------------------------------------------------------------

    def list(self, *, q: str | None = None, data_space: str | None = None,
             theme: str | None = None, access_level: str | None = None,
             licence: str | None = None, factory: str | None = None, withdrawn: bool = False,
             limit: int = 50, after: int = 0, all: bool = False) -> list[DatasetSummary]:
        return self._c._list(f"{PREFIX}/datasets", DatasetSummary, limit=limit, after=after,
                             all=all, q=q, data_space=data_space, theme=theme,
                             access_level=access_level, licence=licence, factory=factory,
                             withdrawn=withdrawn or None)

    def get(self, slug: str) -> DatasetRead:
        return self._c._get(f"{PREFIX}/datasets/{slug}", DatasetRead)

    def create(self, data: Mapping[str, Any], *, idempotency_key: str | None = None
               ) -> DatasetRead:
        return self._c._post(f"{PREFIX}/datasets", DatasetRead, _body(data),
                             idempotency_key=idempotency_key)

    def update(self, slug: str, data: Mapping[str, Any]) -> DatasetRead:
        return DatasetRead.model_validate(self._c.request(
            "PATCH", f"{PREFIX}/datasets/{slug}", json=_body(data)))

    def withdraw(self, slug: str, reason: str = "") -> DatasetRead:
        return self._c._post(f"{PREFIX}/datasets/{slug}/withdraw", DatasetRead,
                             {"reason": reason})

    def set_stewards(self, slug: str, emails: list[str]) -> list[int]:
        result: list[int] = self._c.request("PUT", f"{PREFIX}/datasets/{slug}/stewards",
                                            json={"emails": emails})
        return result

    def access(self, slug: str) -> dict[str, Any]:
        """Whether I may read the dataset's files now, and the rule that says so."""
        result: dict[str, Any] = self._c.request("GET", f"{PREFIX}/datasets/{slug}/access")
        return result

    # --- files --------------------------------------------------------------------------------

    def upload(self, slug: str, path: Path, *, file_name: str | None = None, title: str = "",
               progress: Progress | None = None, sha256: str | None = None
               ) -> DistributionRead:
        """Stream a file to the dataset. Its SHA-256 (computed first unless given) goes with
        it, so a file changed or damaged on the way is refused by the server."""
        size = path.stat().st_size
        sha256 = sha256 or sha256_of(path)

        def pieces() -> Iterator[bytes]:
            sent = 0
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(CHUNK), b""):
                    sent += len(chunk)
                    yield chunk
                    if progress is not None:
                        progress(sent)

        headers = {**self._c._headers(), "Content-Length": str(size),
                   "Content-Type": "application/octet-stream", "X-Checksum-Sha256": sha256}
        response = self._c._http.request(
            "POST", f"/api/v1{PREFIX}/datasets/{slug}/distributions",
            params={"file_name": file_name or path.name, "title": title},
            content=pieces(), headers=headers)  # httpx's timeouts are per read/write
        if response.is_error:
            raise FabriekApiError.from_response(response)
        dist = DistributionRead.model_validate(response.json())
        if dist.sha256 != sha256:  # the server checked it too; belt and braces
            raise ChecksumMismatch(f"the server stored {dist.sha256}, we sent {sha256}")
        return dist

    def download(self, slug: str, distribution_id: int, target: Path, *, purpose: str = "",
                 progress: Progress | None = None,
                 on_size: Callable[[int], None] | None = None) -> tuple[Path, str]:
        """Fetch a file into `target` (a directory: the file's own name in it). Returns the
        path and the verified SHA-256; raises ChecksumMismatch (nothing kept) otherwise."""
        params = {"purpose": purpose} if purpose else None
        with self._c.stream("GET", f"{PREFIX}/datasets/{slug}/distributions/"
                                   f"{distribution_id}/content", params=params) as response:
            expected = response.headers.get("X-Checksum-Sha256", "")
            if target.is_dir():
                from email.message import Message

                msg = Message()
                msg["content-disposition"] = response.headers.get("content-disposition", "")
                name = Path(msg.get_filename() or f"distribution-{distribution_id}").name
                target = target / name
            if on_size is not None:
                on_size(int(response.headers.get("content-length", 0)))
            digest, received = hashlib.sha256(), 0
            fd, tmp = tempfile.mkstemp(prefix=".fabriek-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    for chunk in response.iter_bytes(CHUNK):
                        f.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if progress is not None:
                            progress(received)
                if digest.hexdigest() != expected:
                    raise ChecksumMismatch(f"received {digest.hexdigest()}, the server said "
                                           f"{expected or 'nothing'}; nothing was kept")
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return target, expected

    def delete_file(self, slug: str, distribution_id: int) -> None:
        self._c.request("DELETE", f"{PREFIX}/datasets/{slug}/distributions/{distribution_id}")

    def reads(self, slug: str, *, limit: int = 100, after: int = 0, all: bool = False
              ) -> list[ReadRead]:
        return self._c._list(f"{PREFIX}/datasets/{slug}/reads", ReadRead, limit=limit,
                             after=after, all=all)

    # --- requests and grants ------------------------------------------------------------------

    def request_access(self, slug: str, data: Mapping[str, Any], *,
                       idempotency_key: str | None = None) -> AccessRequestRead:
        return self._c._post(f"{PREFIX}/datasets/{slug}/requests", AccessRequestRead,
                             _body(data), idempotency_key=idempotency_key)

    def requests(self, *, queue: bool = False, state: str | None = None,
                 dataset: str | None = None, limit: int = 50, after: int = 0,
                 all: bool = False) -> list[AccessRequestRead]:
        return self._c._list(f"{PREFIX}/requests", AccessRequestRead, limit=limit, after=after,
                             all=all, queue=queue or None, state=state, dataset=dataset)

    def get_request(self, request_id: int) -> AccessRequestRead:
        return self._c._get(f"{PREFIX}/requests/{request_id}", AccessRequestRead)

    def decide(self, request_id: int, *, approve: bool, reasons: str,
               expires_on: str | None = None) -> AccessRequestRead:
        body: dict[str, Any] = {"approve": approve, "reasons": reasons}
        if expires_on:
            body["expires_on"] = expires_on
        return self._c._post(f"{PREFIX}/requests/{request_id}/decision", AccessRequestRead,
                             body)

    def withdraw_request(self, request_id: int, reason: str = "") -> AccessRequestRead:
        return self._c._post(f"{PREFIX}/requests/{request_id}/withdraw", AccessRequestRead,
                             {"reason": reason})

    def grants(self, *, stewarded: bool = False, valid: bool = False,
               dataset: str | None = None, limit: int = 50, after: int = 0,
               all: bool = False) -> list[GrantRead]:
        return self._c._list(f"{PREFIX}/grants", GrantRead, limit=limit, after=after, all=all,
                             stewarded=stewarded or None, valid=valid or None, dataset=dataset)

    def revoke(self, grant_id: int, reason: str) -> GrantRead:
        return self._c._post(f"{PREFIX}/grants/{grant_id}/revoke", GrantRead,
                             {"reason": reason})

    def sweep(self) -> SweepResult:
        return self._c._post(f"{PREFIX}/grants/sweep", SweepResult)

    # --- DCAT-AP ------------------------------------------------------------------------------

    def export(self, fmt: str = "ttl") -> str:
        """The whole catalogue as DCAT-AP: "ttl" (Turtle) or "jsonld"."""
        if fmt not in ("ttl", "jsonld"):
            raise ValueError("format: ttl or jsonld")
        return self._c.raw("GET", f"{PREFIX}/catalogue.{fmt}").text
