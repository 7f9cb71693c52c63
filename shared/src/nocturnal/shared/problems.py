"""RFC 9457 problem details: the one error shape every service answers with."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://nocturnal.dev/problems/"


class Problem(Exception):
    """An HTTP error answered as `application/problem+json` (RFC 9457).

    Raise it anywhere in a request; the problem middleware renders
    `{type, title, status, detail, instance, request_id, errors?}` and adds `headers`.
    `errors` is a list of `{field, message}` for validation failures.
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        slug: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        phrase = HTTPStatus(status).phrase
        self.status = status
        self.title = title or phrase
        self.detail = detail or phrase
        self.type = PROBLEM_TYPE_BASE + slug if slug else "about:blank"
        self.errors = errors
        self.headers = headers or {}
        super().__init__(f"{status} {self.title}: {self.detail}")

    def body(self, *, instance: str, request_id: str | None) -> dict[str, Any]:
        """The RFC 9457 JSON object for this problem at request path `instance`."""
        doc: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "request_id": request_id,
        }
        if self.errors:
            doc["errors"] = self.errors
        return doc


def validation_problem(errors: list[dict[str, str]], detail: str = "invalid request") -> Problem:
    """400 with per-field `errors` ([{field, message}])."""
    return Problem(400, detail, slug="validation-error", errors=errors)


def unauthorized(detail: str = "missing or invalid access token", *, error: str = "") -> Problem:
    """401 with `WWW-Authenticate: Bearer` (RFC 6750 §3); `error` e.g. `invalid_token`."""
    challenge = 'Bearer realm="nocturnal"'
    if error:
        challenge += f', error="{error}"'
    return Problem(401, detail, slug="unauthorized", headers={"WWW-Authenticate": challenge})


def forbidden(detail: str = "not allowed") -> Problem:
    """403: authenticated but the role or ownership does not allow the action."""
    return Problem(403, detail, slug="forbidden")


def not_found(detail: str = "not found") -> Problem:
    """404: the resource does not exist or must not be revealed."""
    return Problem(404, detail, slug="not-found")


def conflict(detail: str) -> Problem:
    """409: the request conflicts with the current state."""
    return Problem(409, detail, slug="conflict")
