"""The error kinds every capability raises; only the shells (API, CLI, portal) read `status`."""

from __future__ import annotations

from typing import Any


class FabriekError(Exception):
    status = 500
    code = "internal"
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(FabriekError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthenticated(FabriekError):
    status, code, title = 401, "unauthenticated", "Not signed in"


class Forbidden(FabriekError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(FabriekError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(FabriekError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "Not possible in the current state"


class TooLarge(FabriekError):
    """A body or file over a declared size limit (nothing of it was kept)."""

    status, code, title = 413, "too_large", "Too large"


class ValidationFailed(FabriekError):
    status, code, title = 422, "validation_failed", "Invalid input"


class PolicyRefusal(FabriekError):
    """A rule refused the request; `rule` names the rule or article that did."""

    status, code, title = 422, "policy_refusal", "Refused by policy"

    def __init__(self, detail: str, *, rule: str, **extra: Any) -> None:
        super().__init__(detail, rule=rule, **extra)
        self.rule = rule


class Unavailable(FabriekError):
    status, code, title = 503, "unavailable", "Temporarily unavailable"
