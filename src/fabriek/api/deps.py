"""Dependencies: a session per request, the signed-in principal, idempotent creation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fabriek.access.service import AccessConfig
from fabriek.db.idempotency import IdempotencyKey
from fabriek.db.session import Database
from fabriek.errors import Conflict, Unauthenticated
from fabriek.identity.principal import Principal
from fabriek.identity.service import principal_for_token

bearer = HTTPBearer(auto_error=False, description="An API token: `fabriek admin create-user`")


def _db(request: Request) -> Database:
    return request.app.state.db


def access_config(request: Request) -> AccessConfig:
    return request.app.state.access


def _read_session(request: Request) -> Iterator[Session]:
    session = _db(request).session(readonly=True)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def _write_session(request: Request) -> Iterator[Session]:
    session = _db(request).session()
    try:
        yield session
    finally:
        session.rollback()  # a no-op after the route's commit; undoes everything after an error
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
    # Authenticate in a short read transaction of its own: the write transaction (on SQLite,
    # the database's write lock) then starts only when the route itself writes.
    session = _db(request).session(readonly=True)
    try:
        return _principal(session, credentials)
    finally:
        session.close()


Reader = Annotated[Principal, Depends(_reader)]
Writer = Annotated[Principal, Depends(_writer)]
IdempotencyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200,
           description="Retrying a request with the same key returns the first response and "
                       "changes nothing more."),
]


def _fingerprint(request: Request, body: Any) -> str:
    payload = json.dumps([request.method, request.url.path, jsonable_encoder(body)],
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def commit_and_respond(session: Session, value: Any, status_code: int = 200) -> JSONResponse:
    content = jsonable_encoder(value)
    session.commit()
    return JSONResponse(content, status_code=status_code)


def idempotent(
    request: Request, session: Session, principal: Principal, key: str | None, body: Any,
    produce: Callable[[], Any], status_code: int = 200,
) -> JSONResponse:
    """Run `produce` once per (user, Idempotency-Key); a retry gets the stored response.

    The key row is inserted before the work: a concurrent retry waits on its unique index and,
    once the first commits, reads the stored response instead of doing the work twice.
    """
    if key is None:
        return commit_and_respond(session, produce(), status_code)
    fingerprint = _fingerprint(request, body)
    stored = _stored(session, principal, key, fingerprint)
    if stored is not None:
        return stored
    row = IdempotencyKey(user_id=principal.user_id, key=key, fingerprint=fingerprint)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        stored = _stored(session, principal, key, fingerprint)
        if stored is None:
            raise Conflict("a request with this Idempotency-Key is still being processed; "
                           "retry in a moment") from None
        return stored
    content = jsonable_encoder(produce())
    row.status_code, row.response = status_code, content
    session.commit()
    return JSONResponse(content, status_code=status_code)


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
