"""Dependencies: a session per request, the signed-in principal, idempotent creation."""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fabriek.access.service import AccessConfig
from fabriek.db.idempotency import IdempotencyKey
from fabriek.db.session import Database
from fabriek.errors import Conflict, Unauthenticated
from fabriek.identity.principal import Principal
from fabriek.identity.service import principal_for_token
from fabriek.kit.clock import utcnow

bearer = HTTPBearer(auto_error=False, description="An API token: `fabriek admin create-user`")


def _db(request: Request) -> Database:
    return request.app.state.db


# Dependencies that do no I/O are `async def`: FastAPI runs every plain `def` dependency in a
# thread-pool hop of its own, and each hop is a wait for a thread and for the GIL.
async def access_config(request: Request) -> AccessConfig:
    return request.app.state.access


def _read_session(request: Request) -> Iterator[Session]:
    db = _db(request)
    session = db.session(readonly=True)
    try:
        yield session
        db.end_read(session)
    finally:
        session.rollback()
        session.close()


@contextmanager
def read_only(request: Request) -> Iterator[Session]:
    """A short read-only transaction inside a route, beside its write session (work done here
    is not done while holding the write transaction)."""
    with _db(request).unit_of_work(readonly=True) as session:
        yield session


def _discard(session: Session) -> None:
    session.rollback()
    session.close()


def _write_slots(request: Request) -> asyncio.Semaphore:
    # One semaphore per event loop serving the app (a semaphore belongs to one loop; a test
    # client starts a loop of its own each time).
    per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
        request.app.state.write_slots  # made by create_app
    loop = asyncio.get_running_loop()
    if loop not in per_loop:
        per_loop[loop] = asyncio.Semaphore(request.app.state.settings.write_concurrency)
    return per_loop[loop]


async def _write_session(request: Request) -> AsyncIterator[Session]:
    # Making a session does no I/O (it connects at its first statement). After the route's
    # commit it holds no connection and closing it does no I/O either; only a transaction left
    # open by an error is rolled back, in a thread. The slot is held until then (see
    # Settings.write_concurrency).
    async with _write_slots(request):
        session = _db(request).session()
        try:
            yield session
        finally:
            if session.in_transaction():
                await run_in_threadpool(_discard, session)
            else:
                session.close()


ReadSession = Annotated[Session, Depends(_read_session)]
WriteSession = Annotated[Session, Depends(_write_session)]
Access = Annotated[AccessConfig, Depends(access_config)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _principal(session: Session, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    principal = principal_for_token(session, credentials.credentials)
    if principal is None:
        raise Unauthenticated("the API token is unknown, revoked or expired")
    return principal


def _reader(session: ReadSession, credentials: Credentials) -> Principal:
    return _principal(session, credentials)


def _writer(request: Request, credentials: Credentials) -> Principal:
    # Authenticate in a short read of its own, in this thread-pool hop: the write transaction
    # (on SQLite, the database's write lock; on PostgreSQL, a pooled connection) then starts
    # and ends within the route's own hop, and is never held while waiting for a thread.
    session = _db(request).auth_session()
    try:
        return _principal(session, credentials)
    finally:
        session.close()


def _maybe_reader(session: ReadSession, credentials: Credentials) -> Principal | None:
    return None if credentials is None else _principal(session, credentials)


def _maybe_writer(request: Request, credentials: Credentials) -> Principal | None:
    return None if credentials is None else _writer(request, credentials)


Reader = Annotated[Principal, Depends(_reader)]
Writer = Annotated[Principal, Depends(_writer)]
# Public endpoints that also serve signed-in people (the data-lab catalogue, open downloads):
# None without a token; a token that is wrong is still refused.
MaybeReader = Annotated[Principal | None, Depends(_maybe_reader)]
MaybeWriter = Annotated[Principal | None, Depends(_maybe_writer)]
IdempotencyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200,
           description="Retrying a request with the same key returns the first response and "
                       "changes nothing more."),
]


def _json(value: Any) -> Any:
    # Pydantic's own serializer is ~15x cheaper than FastAPI's generic jsonable_encoder.
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else \
        jsonable_encoder(value)


def _fingerprint(request: Request, body: Any) -> str:
    payload = json.dumps([request.method, request.url.path, _json(body)],
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def commit_and_respond(session: Session, value: Any, status_code: int = 200) -> JSONResponse:
    content = _json(value)
    session.commit()
    return JSONResponse(content, status_code=status_code)


def idempotent(
    request: Request, session: Session, principal: Principal, key: str | None, body: Any,
    produce: Callable[[], Any], status_code: int = 200,
) -> JSONResponse:
    """Run `produce` once per (user, Idempotency-Key); a retry gets the stored response.

    The key row is inserted before the work (INSERT ... ON CONFLICT DO NOTHING): a concurrent
    retry waits on its unique index and, once the first commits, inserts nothing and reads the
    stored response instead of doing the work twice.
    """
    if key is None:
        return commit_and_respond(session, produce(), status_code)
    fingerprint = _fingerprint(request, body)
    claim = _CLAIM[session.get_bind().dialect.name == "postgresql"]
    row_id = session.execute(claim, {"user_id": principal.user_id, "key": key,
                                     "fingerprint": fingerprint, "created_at": utcnow()}
                             ).scalar()
    if row_id is None:
        return _replay(session, principal, key, fingerprint)
    content = _json(produce())
    session.execute(_STORE, {"row_id": row_id, "status_code": status_code, "response": content})
    session.commit()
    return JSONResponse(content, status_code=status_code)


# Built once (every creating request runs them): see identity.service._PRINCIPAL_BY_TOKEN.
_KEYS = IdempotencyKey.__table__
_CLAIM = {postgresql: (pg_insert if postgresql else sqlite_insert)(_KEYS)
          .on_conflict_do_nothing(index_elements=["user_id", "key"]).returning(_KEYS.c.id)
          for postgresql in (False, True)}
_STORE = (update(_KEYS).where(_KEYS.c.id == bindparam("row_id"))
          .values(status_code=bindparam("status_code"), response=bindparam("response")))


def key_used(session: Session, principal: Principal, key: str) -> bool:
    return session.execute(select(IdempotencyKey.id).where(
        IdempotencyKey.user_id == principal.user_id, IdempotencyKey.key == key)).first() \
        is not None


def replay(session: Session, principal: Principal, key: str, request: Request, body: Any
           ) -> JSONResponse:
    """The stored response of the earlier request with this (used: `key_used`)
    Idempotency-Key. Raises Conflict when it was for another request or is still running."""
    return _replay(session, principal, key, _fingerprint(request, body))


def _replay(session: Session, principal: Principal, key: str, fingerprint: str
            ) -> JSONResponse:
    stored = _stored(session, principal, key, fingerprint)
    if stored is None:
        raise Conflict("a request with this Idempotency-Key is still being processed; retry in "
                       "a moment")
    return stored


def _stored(session: Session, principal: Principal, key: str, fingerprint: str
            ) -> JSONResponse | None:
    existing = session.execute(select(IdempotencyKey).where(
        IdempotencyKey.user_id == principal.user_id, IdempotencyKey.key == key)).scalar()
    if existing is None or existing.status_code is None:
        return None
    if existing.fingerprint != fingerprint:
        raise Conflict("this Idempotency-Key was already used for a different request; use a "
                       "new key for a new request")
    return JSONResponse(existing.response, status_code=existing.status_code,
                        headers={"Idempotent-Replayed": "true"})
