"""Data labs: the catalogue (public), datasets and their files (stewards publish), downloads
(logged), access requests and grants, the read log, and the DCAT-AP export."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from fabriek.api.deps import (
    IdempotencyHeader,
    MaybeReader,
    MaybeWriter,
    Reader,
    ReadSession,
    Writer,
    WriteSession,
    commit_and_respond,
    idempotent,
    key_used,
    replay,
)
from fabriek.api.pagination import After, Limit, Page, page
from fabriek.api.problems import problem
from fabriek.datalab import dcat, grants, service
from fabriek.datalab.enums import AccessLevel, ReadAction, RequestState
from fabriek.datalab.schemas import (
    AccessRequestCreate,
    AccessRequestRead,
    DatasetCreate,
    DatasetRead,
    DatasetSummary,
    DatasetUpdate,
    Decision,
    DistributionRead,
    GrantRead,
    ReadRead,
    Revocation,
    StewardsUpdate,
    SweepResult,
    Withdrawal,
)
from fabriek.datalab.service import DatalabConfig
from fabriek.datalab.sniff import ContentCheck
from fabriek.datalab.storage import BlobWriter, normalise_sha256
from fabriek.errors import BadRequest, Conflict, Forbidden, TooLarge
from fabriek.identity.enums import Role
from fabriek.kit.clock import utcnow
from fabriek.kit.text import text

router = APIRouter(prefix="/api/v1/datalab", tags=["data labs"])
WRITE_BUFFER = 1024 * 1024  # bytes gathered before one write to the store (one thread hop)


async def _config(request: Request) -> DatalabConfig:
    return request.app.state.datalab


Config = Annotated[DatalabConfig, Depends(_config)]


Purpose = Annotated[text(max_length=2000), Query(  # type: ignore[valid-type]
    description="Why the data is read; logged. Without it a read under a grant is logged "
                "with the grant's purpose.")]


# --- the catalogue ----------------------------------------------------------------------------


@router.get("/datasets", response_model=Page[DatasetSummary])
def list_datasets(session: ReadSession, principal: MaybeReader, limit: Limit = 50,
                  after: After = 0,
                  q: Annotated[str | None, Query(max_length=200)] = None,
                  data_space: Annotated[str | None, Query(max_length=40)] = None,
                  theme: Annotated[str | None, Query(max_length=20)] = None,
                  access_level: AccessLevel | None = None,
                  licence: Annotated[str | None, Query(max_length=40)] = None,
                  factory: Annotated[str | None, Query(max_length=60)] = None,
                  withdrawn: bool = False) -> Page[DatasetSummary]:
    """The catalogue, public: search (`q`: every word in titles, descriptions, keywords) and
    filters. `withdrawn=true` adds withdrawn datasets one stewards (officers: all)."""
    rows = service.list_datasets(session, principal, q=q, data_space=data_space, theme=theme,
                                 access_level=access_level, licence=licence,
                                 factory_id=factory, include_withdrawn=withdrawn, after=after,
                                 limit=limit)
    return page(service.dataset_summaries(session, rows), [r.id for r in rows], limit)


@router.post("/datasets", response_model=DatasetRead, status_code=201)
def create_dataset(body: DatasetCreate, request: Request, session: WriteSession,
                   principal: Writer, cfg: Config,
                   key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """A data steward publishes a dataset's metadata (files are uploaded next)."""
    return idempotent(request, session, principal, key, body, lambda: service.dataset_view(
        session, cfg, service.create_dataset(session, principal, body, cfg=cfg)), 201)


@router.get("/datasets/{slug}", response_model=DatasetRead)
def show_dataset(slug: str, session: ReadSession, principal: MaybeReader,
                 cfg: Config) -> DatasetRead:
    return service.dataset_view(session, cfg, service.get_dataset(session, principal, slug))


@router.patch("/datasets/{slug}", response_model=DatasetRead)
def update_dataset(slug: str, body: DatasetUpdate, session: WriteSession, principal: Writer,
                   cfg: Config):  # type: ignore[no-untyped-def]
    return commit_and_respond(session, service.dataset_view(
        session, cfg, service.update_dataset(session, principal, slug, body, cfg=cfg)))


@router.post("/datasets/{slug}/withdraw", response_model=DatasetRead)
def withdraw_dataset(slug: str, body: Withdrawal, request: Request, session: WriteSession,
                     principal: Writer, cfg: Config, key: IdempotencyHeader = None
                     ):  # type: ignore[no-untyped-def]
    """Take the dataset out of the catalogue; its grants, requests and read log stay."""
    return idempotent(request, session, principal, key, body, lambda: service.dataset_view(
        session, cfg, service.withdraw_dataset(session, principal, slug, reason=body.reason)))


@router.put("/datasets/{slug}/stewards", response_model=list[int])
def set_stewards(slug: str, body: StewardsUpdate, session: WriteSession,
                 principal: Writer):  # type: ignore[no-untyped-def]
    """Replace the dataset's stewards (people with the data-steward role)."""
    return commit_and_respond(session, service.set_stewards(session, principal, slug,
                                                            [str(e) for e in body.emails]))


# --- files ------------------------------------------------------------------------------------


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise BadRequest("Content-Length is not a number")
    return int(value)


@router.post("/datasets/{slug}/distributions", response_model=DistributionRead,
             status_code=201, openapi_extra={"requestBody": {
                 "required": True, "content": {"application/octet-stream": {
                     "schema": {"type": "string", "format": "binary"}}}}})
async def upload(slug: str, request: Request, principal: Writer, cfg: Config,
                 file_name: Annotated[str, Query(max_length=255, description=(
                     "The file's name: a plain name with an allowed extension, no path."))],
                 title: Annotated[text(max_length=300), Query()] = "",  # type: ignore[valid-type]
                 checksum: Annotated[str | None, Header(
                     alias="X-Checksum-Sha256", max_length=80,
                     description="The file's SHA-256 (hex); the upload is refused if the "
                                 "received bytes differ.")] = None,
                 key: IdempotencyHeader = None,
                 ):  # type: ignore[no-untyped-def]
    """A steward uploads one file of the dataset as the raw request body (streamed to the
    store, never held in memory). Refused before reading when the name, format, declared
    size or steward is wrong; a body over the limit, with a checksum other than
    `X-Checksum-Sha256`, or not of the named format, is refused and nothing is kept."""
    db = request.app.state.db
    declared = _declared_length(request)
    expected = normalise_sha256(checksum) if checksum else None

    def retried() -> bool:
        with db.unit_of_work(readonly=True) as s:
            return key_used(s, principal, key)  # type: ignore[arg-type]

    if key is not None and await run_in_threadpool(retried):
        # A retry: its name is taken by the first upload, so only its bytes are read, to
        # tell the same file (the first response again) from another one (409).
        digest = await _sha256_of_body(request, cfg.max_upload_bytes)

        def answer():  # type: ignore[no-untyped-def]
            with db.unit_of_work(readonly=True) as s:
                return replay(s, principal, key, request, _upload_facts(file_name, title,
                                                                        digest))

        return await run_in_threadpool(answer)

    def precheck():  # type: ignore[no-untyped-def]
        with db.unit_of_work(readonly=True) as s:
            _, name, fmt = service.prepare_upload(s, principal, slug, file_name, cfg=cfg,
                                                  declared_size=declared)
            return name, fmt

    name, fmt = await run_in_threadpool(precheck)
    check = ContentCheck(fmt, name)
    writer: BlobWriter = await run_in_threadpool(cfg.store.begin,
                                                 max_bytes=cfg.max_upload_bytes)
    try:
        buffer = bytearray()
        async for chunk in request.stream():
            check.feed(chunk)
            if writer.size + len(buffer) + len(chunk) > cfg.max_upload_bytes:
                raise TooLarge(f"the file is larger than the limit of {cfg.max_upload_bytes} "
                               "bytes; nothing was stored", limit_bytes=cfg.max_upload_bytes)
            buffer += chunk
            if len(buffer) >= WRITE_BUFFER:
                await run_in_threadpool(writer.write, bytes(buffer))
                buffer.clear()
        if buffer:
            await run_in_threadpool(writer.write, bytes(buffer))
        if declared is not None and writer.size != declared:
            raise BadRequest(f"the body has {writer.size} bytes, Content-Length said {declared}")
        check.finish()
        blob = await run_in_threadpool(writer.commit, expected)
    except BaseException:
        await run_in_threadpool(writer.abort)
        raise

    def record():  # type: ignore[no-untyped-def]
        def produce() -> DistributionRead:
            # Checked again in the write transaction: another upload may have taken the
            # name, or the person lost the role, while the body streamed.
            dataset, name2, fmt2 = service.prepare_upload(s, principal, slug, file_name,
                                                          cfg=cfg)
            try:
                dist = service.add_distribution(s, principal, dataset, name2, fmt2, blob,
                                                title=title)
            except IntegrityError as exc:  # a concurrent upload of the same name won
                raise Conflict(f"dataset {slug} already has a file named {name2}") from exc
            return service.distribution_view(dataset, dist)

        try:
            with db.unit_of_work() as s:
                return idempotent(request, s, principal, key,
                                  _upload_facts(file_name, title, blob.sha256), produce, 201)
        except BaseException:
            if blob.new:
                with db.unit_of_work(readonly=True) as s:
                    if not service.blob_in_use(s, blob.key):
                        cfg.store.delete(blob.key)
            raise

    response = await run_in_threadpool(record)
    response.headers["X-Checksum-Sha256"] = blob.sha256
    return response


def _upload_facts(file_name: str, title: str, sha256: str) -> dict[str, str]:
    """What an Idempotency-Key is bound to for an upload: the query and the bytes' hash."""
    return {"file_name": file_name, "title": title, "sha256": sha256}


async def _sha256_of_body(request: Request, limit: int) -> str:
    digest, size = hashlib.sha256(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the file is larger than the limit of {limit} bytes",
                           limit_bytes=limit)
        digest.update(chunk)
    return digest.hexdigest()


@router.delete("/datasets/{slug}/distributions/{distribution_id}", status_code=204)
def delete_distribution(slug: str, distribution_id: int, session: WriteSession,
                        principal: Writer, cfg: Config) -> Response:
    """A steward deletes a file nobody has read yet."""
    key = service.delete_distribution(session, principal, slug, distribution_id)
    session.commit()
    if key is not None:
        cfg.store.delete(key)
    return Response(status_code=204)


@router.get("/datasets/{slug}/distributions/{distribution_id}", response_model=DistributionRead)
def show_distribution(slug: str, distribution_id: int, session: ReadSession,
                      principal: MaybeReader) -> DistributionRead:
    dataset = service.get_dataset(session, principal, slug)
    return service.distribution_view(dataset,
                                     service.get_distribution(session, dataset, distribution_id))


def _content_disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@router.get("/datasets/{slug}/distributions/{distribution_id}/content",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download(slug: str, distribution_id: int, request: Request, cfg: Config,
             principal: MaybeWriter, purpose: Purpose = "") -> StreamingResponse:
    """The file, if the access conditions allow it now; the read is logged (who, for which
    organisation and grant, why) before the first byte is sent."""
    with request.app.state.db.unit_of_work() as s:
        dataset = service.get_dataset(s, principal, slug)
        dist = service.get_distribution(s, dataset, distribution_id)
        decision = service.require_read(s, principal, dataset)
        service.record_read(s, dataset=dataset, principal=principal,
                            action=ReadAction.download, decision=decision, distribution=dist,
                            purpose=purpose)
        key, size, sha, media, name = (dist.blob_key, dist.byte_size, dist.sha256,
                                       dist.media_type, dist.file_name)
    stream = cfg.store.open(key)

    def chunks() -> Iterator[bytes]:
        with stream:
            yield from iter(lambda: stream.read(WRITE_BUFFER), b"")

    b64 = base64.b64encode(bytes.fromhex(sha)).decode()
    return StreamingResponse(chunks(), media_type=media, headers={
        "Content-Length": str(size), "Content-Disposition": _content_disposition(name),
        "ETag": f'"{sha}"', "X-Checksum-Sha256": sha, "Repr-Digest": f"sha-256=:{b64}:",
        "Cache-Control": "private, no-store"})


@router.get("/datasets/{slug}/access")
def my_access(slug: str, session: ReadSession, principal: MaybeReader) -> dict[str, object]:
    """Whether I may read the dataset's files now, and the rule that says so."""
    dataset = service.get_dataset(session, principal, slug)
    d = service.decide_read(session, principal, dataset)
    return {"allowed": d.allowed, "rule": d.rule, "reason": d.reason,
            "grant_id": d.grant.id if d.grant else None}


@router.get("/datasets/{slug}/reads", response_model=Page[ReadRead])
def reads(slug: str, session: ReadSession, principal: Reader, limit: Limit = 100,
          after: After = 0) -> Page[ReadRead]:
    """The read log of the dataset, for its stewards: who read what, when, why, under which
    grant and rule."""
    dataset, rows = service.list_reads(session, principal, slug, after=after, limit=limit)
    names = {d.id: d.file_name for d in service.distributions_of(session, [dataset.id])[
        dataset.id]}
    return page([ReadRead(id=r.id, dataset=dataset.slug, distribution_id=r.distribution_id,
                          file_name=names.get(r.distribution_id or 0), user_id=r.user_id,
                          who=r.who, organisation_id=r.organisation_id, grant_id=r.grant_id,
                          action=r.action, purpose=r.purpose, job_id=r.job_id, rule=r.rule,
                          at=r.at, detail=r.detail) for r in rows], [r.id for r in rows], limit)


# --- access requests --------------------------------------------------------------------------


@router.post("/datasets/{slug}/requests", response_model=AccessRequestRead, status_code=201)
def request_access(slug: str, body: AccessRequestCreate, request: Request,
                   session: WriteSession, principal: Writer, cfg: Config,
                   key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """Ask for access for a project of one's organisation, with a purpose and an expiry
    (and a permit reference for permit-level datasets)."""
    return idempotent(request, session, principal, key, body, lambda: grants.request_view(
        session, grants.create_request(session, principal, slug, body, cfg=cfg)), 201)


@router.get("/requests", response_model=Page[AccessRequestRead])
def list_requests(session: ReadSession, principal: Reader, limit: Limit = 50,
                  after: After = 0, queue: bool = False, state: RequestState | None = None,
                  dataset: Annotated[str | None, Query(max_length=64)] = None
                  ) -> Page[AccessRequestRead]:
    """My organisations' requests, or (`queue=true`, stewards) the requests for the datasets
    I steward, pending ones unless `state` says otherwise."""
    rows = grants.list_requests(session, principal, queue=queue, state=state, dataset=dataset,
                                after=after, limit=limit)
    return page([grants.request_view(session, r) for r in rows], [r.id for r in rows], limit)


@router.get("/requests/{request_id}", response_model=AccessRequestRead)
def show_request(request_id: int, session: ReadSession, principal: Reader
                 ) -> AccessRequestRead:
    return grants.request_view(session, grants.get_request(session, principal, request_id))


@router.post("/requests/{request_id}/decision", response_model=AccessRequestRead)
def decide(request_id: int, body: Decision, request: Request, session: WriteSession,
           principal: Writer, cfg: Config, key: IdempotencyHeader = None
           ):  # type: ignore[no-untyped-def]
    """A steward of the dataset approves (a grant until the requested day, or an earlier
    one) or rejects, with reasons."""
    return idempotent(request, session, principal, key, body, lambda: grants.request_view(
        session, grants.decide(session, principal, request_id, body, cfg=cfg)[0]))


@router.post("/requests/{request_id}/withdraw", response_model=AccessRequestRead)
def withdraw_request(request_id: int, body: Withdrawal, request: Request,
                     session: WriteSession, principal: Writer, key: IdempotencyHeader = None
                     ):  # type: ignore[no-untyped-def]
    return idempotent(request, session, principal, key, body, lambda: grants.request_view(
        session, grants.withdraw(session, principal, request_id, reason=body.reason)))


# --- grants -----------------------------------------------------------------------------------


@router.get("/grants", response_model=Page[GrantRead])
def list_grants(session: ReadSession, principal: Reader, limit: Limit = 50, after: After = 0,
                stewarded: bool = False, valid: bool = False,
                dataset: Annotated[str | None, Query(max_length=64)] = None
                ) -> Page[GrantRead]:
    """My organisations' grants, or (`stewarded=true`) those of the datasets I steward."""
    now = utcnow()
    rows = grants.list_grants(session, principal, stewarded=stewarded, dataset=dataset,
                              valid_only=valid, now=now, after=after, limit=limit)
    return page([grants.grant_view(session, g, now) for g in rows], [g.id for g in rows], limit)


@router.get("/grants/{grant_id}", response_model=GrantRead)
def show_grant(grant_id: int, session: ReadSession, principal: Reader) -> GrantRead:
    return grants.grant_view(session, grants.get_grant(session, principal, grant_id))


@router.post("/grants/{grant_id}/revoke", response_model=GrantRead)
def revoke(grant_id: int, body: Revocation, request: Request, session: WriteSession,
           principal: Writer, key: IdempotencyHeader = None):  # type: ignore[no-untyped-def]
    """A steward of the dataset ends the grant now, with a reason."""
    return idempotent(request, session, principal, key, body, lambda: grants.grant_view(
        session, grants.revoke(session, principal, grant_id, reason=body.reason)))


@router.post("/grants/sweep", response_model=SweepResult)
def sweep(session: WriteSession, principal: Writer):  # type: ignore[no-untyped-def]
    """Record the grants past their expiry as expired (the reconciler does this every
    minute; expiry itself is checked at every read, whether or not this ran)."""
    if not (principal.has(Role.data_steward) or principal.has(Role.access_officer)):
        raise Forbidden("data stewards and access officers may run the sweep")
    return commit_and_respond(session, SweepResult(expired=grants.sweep_expired(session)))


# --- DCAT-AP ----------------------------------------------------------------------------------


def _export(request: Request, media_type: str, cfg: DatalabConfig) -> Response:
    settings = request.app.state.settings
    base = settings.public_url or str(request.base_url)
    with request.app.state.db.unit_of_work(readonly=True) as s:
        records = service.catalogue_records(s)
    body = dcat.serialise(dcat.build_graph(records, cfg.policy, base), media_type)
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    return Response(body, media_type=media_type, headers={
        "ETag": f'"{etag}"', "Vary": "Accept", "Cache-Control": "public, max-age=60"})


@router.get("/catalogue", response_class=Response, responses={200: {"content": {
    dcat.TURTLE: {}, dcat.JSON_LD: {}}}})
def catalogue(request: Request, cfg: Config,
              accept: Annotated[str | None, Header()] = None) -> Response:
    """The whole catalogue as DCAT-AP 3.0, by content negotiation: Turtle (default) or
    JSON-LD (`Accept: application/ld+json`). Public, for portals to harvest."""
    media = dcat.negotiate(accept)
    if media is None:
        return problem(406, "not_acceptable", "Not acceptable",
                       "the catalogue is available as text/turtle or application/ld+json",
                       request)
    return _export(request, media, cfg)


@router.get("/catalogue.ttl", response_class=Response,
            responses={200: {"content": {dcat.TURTLE: {}}}})
def catalogue_ttl(request: Request, cfg: Config) -> Response:
    return _export(request, dcat.TURTLE, cfg)


@router.get("/catalogue.jsonld", response_class=Response,
            responses={200: {"content": {dcat.JSON_LD: {}}}})
def catalogue_jsonld(request: Request, cfg: Config) -> Response:
    return _export(request, dcat.JSON_LD, cfg)
