"""Every error leaves the API as an RFC 9457 problem+json with a message a person understands."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fabriek.errors import FabriekError

log = logging.getLogger("fabriek.api")
PROBLEM = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str, request: Request,
            **extra: Any) -> JSONResponse:
    body = {"type": f"urn:fabriek:problem:{code}", "title": title, "status": status,
            "detail": detail, "instance": request.url.path, "code": code, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _describe(error: dict[str, Any]) -> dict[str, str]:
    if error.get("type") == "json_invalid":
        return {"field": "body", "message": "the request body is not valid JSON "
                f"({error.get('ctx', {}).get('error', 'parse error')})"}
    return {"field": _field(tuple(error.get("loc", ()))),
            "message": error.get("msg", "").removeprefix("Value error, ")}


def install(app: FastAPI) -> None:
    @app.exception_handler(FabriekError)
    async def _fabriek(request: Request, exc: FabriekError) -> JSONResponse:
        extra = {k: v for k, v in exc.extra.items() if v is not None}
        return problem(exc.status, exc.code, exc.title, exc.detail, request, **extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_describe(e) for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "validation_failed", "Invalid input", detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(
            exc.status_code, "http_error")
        response = problem(exc.status_code, code, detail, detail, request)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        return problem(409, "conflict", "Conflict", "the record was changed by someone else at "
                       "the same moment; reload and try again", request)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # Input validation should catch these first; the database is the last line of defence.
        return problem(422, "validation_failed", "Invalid input",
                       "the database refused a value in this request as malformed", request)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error, request id %s", request_id, exc_info=exc)
        return problem(500, "internal", "Internal error",
                       f"something went wrong on our side; quote request id {request_id}",
                       request, request_id=request_id)
