"""What the client raises when the API answers with a problem (RFC 9457 problem+json)."""

from __future__ import annotations

from typing import Any

import httpx


class FabriekApiError(Exception):
    """The API refused or failed a request; `code` is stable, `detail` is meant for people."""

    def __init__(self, status: int, code: str, title: str, detail: str,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.body = body or {}

    @property
    def rule(self) -> str | None:
        """The rule or article that refused the request (policy refusals only)."""
        rule = self.body.get("rule")
        return rule if isinstance(rule, str) else None

    @classmethod
    def from_response(cls, response: httpx.Response) -> FabriekApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # Not a problem document (a proxy's error page, say): keep what a person can read.
            text = " ".join(response.text.split())[:300] or response.reason_phrase
            return cls(response.status_code, "http_error", response.reason_phrase or "Error",
                       text, {"text": response.text})
        return cls(
            status=int(body.get("status") or response.status_code),
            code=str(body.get("code") or "http_error"),
            title=str(body.get("title") or response.reason_phrase or "Error"),
            detail=str(body.get("detail") or body.get("title") or response.reason_phrase),
            body=body,
        )
