"""RFC 9457 problem details: the one error shape, and the one table of problem types.

Every error answer, a service's or the gateway's, is `application/problem+json` whose `type`
and `title` follow from its status alone (DESIGN §5): `PROBLEM_TYPES` is that table. The
gateway's nginx template and docs/problems.md are checked against it by the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import NotRequired, cast

from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

PROBLEM_CONTENT_TYPE = "application/problem+json"
# RFC 9110 §15.5.2: every 401 carries a challenge; ours is RFC 6750's Bearer scheme.
BEARER_CHALLENGE = 'Bearer realm="nocturnal"'
PROBLEM_TYPE_BASE = "https://nocturnal.dev/problems/"
# nginx writes titles and details into its JSON body as they are: nothing that needs escaping.
_JSON_SAFE = re.compile(r"^[^\"\\\x00-\x1f]+$")


@dataclass(frozen=True)
class ProblemType:
    """One row of the table: what every answer with `status` carries.

    `detail` is the standard wording, used whenever the answerer knows nothing more specific
    (an unknown path, a wrong method, an oversized body, ...), by the gateway and by services
    alike; `when` says in which cases the status is answered; `gateway` tells whether the
    gateway answers it itself (its template must then render this row).

    Raises:
        ValueError: `title` or `detail` would need escaping in JSON (nginx cannot escape).
    """

    status: int
    slug: str
    title: str
    detail: str
    when: str
    gateway: bool = False

    def __post_init__(self) -> None:
        for text in (self.title, self.detail):
            if not _JSON_SAFE.match(text):
                raise ValueError(f"{self.status}: {text!r} is not JSON-safe as it is")

    @property
    def uri(self) -> str:
        """The problem `type` URI."""
        return PROBLEM_TYPE_BASE + self.slug


# The wording of every validation failure, of a body or of query parameters alike.
INVALID_VALUES = "The request has invalid values; see errors."

PROBLEM_TYPES: Mapping[int, ProblemType] = MappingProxyType(
    {
        row.status: row
        for row in (
            ProblemType(
                400,
                "bad-request",
                "Bad Request",
                "The request is malformed.",
                "a request line or header the gateway cannot parse, encoded dots or slashes in"
                " the path, a body that is empty, not JSON or undecodable; invalid values of"
                f" the body or of query parameters: detail '{INVALID_VALUES}' and `errors`"
                " [{field, message}]",
                gateway=True,
            ),
            ProblemType(
                401,
                "unauthorized",
                "Unauthorized",
                "The credentials are missing or invalid.",
                "no or an invalid access token, a wrong e-mail or password, an invalid refresh"
                " token; every 401 carries `WWW-Authenticate: Bearer` (RFC 9110 §15.5.2)",
            ),
            ProblemType(
                403,
                "forbidden",
                "Forbidden",
                "This action is not allowed for this account.",
                "the role or ownership does not allow it; an invalid or expired download link",
            ),
            ProblemType(
                404,
                "not-found",
                "Not Found",
                "Nothing is served at this path.",
                "an unknown path (gateway or service), or a resource that does not exist or"
                " must not be revealed (the detail names it)",
                gateway=True,
            ),
            ProblemType(
                405,
                "method-not-allowed",
                "Method Not Allowed",
                "This method is not allowed here; the Allow header lists those that are.",
                "a method the route does not serve (with `Allow`); at the gateway any method"
                " outside GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
                gateway=True,
            ),
            ProblemType(
                408,
                "request-timeout",
                "Request Timeout",
                "The request did not arrive in time.",
                "an upload stalled for 30 s (the upload service answers); the gateway closes a"
                " connection whose headers (10 s) or JSON body (30 s) stop arriving without an"
                " answer, as nginx does",
                gateway=True,
            ),
            ProblemType(
                409,
                "conflict",
                "Conflict",
                "The request conflicts with the current state of the resource.",
                "the e-mail is taken, a duplicate application, a duty that is full or not open",
            ),
            ProblemType(
                413,
                "content-too-large",
                "Content Too Large",
                "The request body is larger than this route accepts.",
                "a JSON body over `MAX_JSON_BODY_BYTES` (service) or 1 MiB (gateway), an upload"
                " over its kind's limit (the detail names it) or over 21 MiB (gateway)",
                gateway=True,
            ),
            ProblemType(
                414,
                "uri-too-long",
                "URI Too Long",
                "The request target is too long.",
                "a request line over 8 KiB",
                gateway=True,
            ),
            ProblemType(
                415,
                "unsupported-media-type",
                "Unsupported Media Type",
                "The request body is content-coded or of a media type this route does not take.",
                "a `Content-Encoding` other than identity (gateway or service), a JSON route"
                " without a JSON content type, an upload that is not multipart/form-data or"
                " whose bytes are not an accepted file type",
                gateway=True,
            ),
            ProblemType(
                429,
                "too-many-requests",
                "Too Many Requests",
                "A rate limit is reached; retry after the Retry-After delay.",
                "a rate-limit policy is exhausted (with `Retry-After` and the RateLimit fields)",
            ),
            ProblemType(
                431,
                "request-header-fields-too-large",
                "Request Header Fields Too Large",
                "The request header fields are too large.",
                "a header line over 8 KiB, about 1,000 header fields or more, or over 32 KiB of"
                " them",
                gateway=True,
            ),
            ProblemType(
                500,
                "internal-server-error",
                "Internal Server Error",
                "An unexpected error occurred.",
                "a fault on our side (logged with the request id)",
                gateway=True,
            ),
            ProblemType(
                501,
                "not-implemented",
                "Not Implemented",
                "The request uses a feature this server does not implement.",
                "a `Transfer-Encoding` other than chunked",
                gateway=True,
            ),
            ProblemType(
                502,
                "bad-gateway",
                "Bad Gateway",
                "The service behind this route did not answer.",
                "an instance of the route's service failed while answering a request that is not"
                " safe to send to another (POST, PATCH)",
                gateway=True,
            ),
            ProblemType(
                503,
                "service-unavailable",
                "Service Unavailable",
                "The service is unavailable; retry later.",
                "an instance is at its bound of work in progress: requests (`MAX_IN_FLIGHT`),"
                " uploads (`UPLOAD_MAX_CONCURRENT`) or auth's password hashing; a tier is set"
                " while the rate-limit store is unreachable; the database is unreachable or hung"
                " (detail 'the database did not confirm the change in time: it may have been"
                " stored; check before repeating it' when a commit's answer never came);"
                " no instance of the route's service accepts connections (all with `Retry-After`)",
                gateway=True,
            ),
            ProblemType(
                504,
                "gateway-timeout",
                "Gateway Timeout",
                "The service behind this route did not answer in time.",
                "the route's service did not accept the connection (3 s) or answer (the read"
                " timeout) in time",
                gateway=True,
            ),
            ProblemType(
                505,
                "http-version-not-supported",
                "HTTP Version Not Supported",
                "Only HTTP/1.0 and HTTP/1.1 are served here.",
                "any other HTTP version in the request line",
                gateway=True,
            ),
        )
    }
)


def problem_type(status: int) -> ProblemType:
    """The table's row for `status` (an HTTP error status, 400-599).

    A status outside the table (none is answered today) gets RFC 9457's `about:blank` type,
    with the status's reason phrase as title and description as detail.
    """
    if row := PROBLEM_TYPES.get(status):
        return row
    phrase = HTTPStatus(status)
    return ProblemType(status, "", phrase.phrase, phrase.description, "")


class FieldError(TypedDict):
    """One invalid value: where (`field`, dotted for nested ones) and what is wrong with it."""

    field: str
    message: str


class ProblemDetails(TypedDict):
    """The RFC 9457 body of every error: `type` and `title` follow from `status`
    (`PROBLEM_TYPES`); `instance` is the request path; `errors` lists invalid values (400)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None
    errors: NotRequired[list[FieldError]]


class Problem(Exception):
    """An HTTP error answered as `application/problem+json` (RFC 9457).

    Raise it anywhere in a request; the problem middleware renders
    `{type, title, status, detail, instance, request_id, errors?}` and adds `headers`.
    `type` and `title` follow from `status` (`PROBLEM_TYPES`); `detail` defaults to the
    status's standard wording. `errors` is a list of `{field, message}` for validation failures.
    A 401 always carries `WWW-Authenticate` (RFC 9110 §15.5.2): `BEARER_CHALLENGE` unless
    `headers` gives a challenge of its own.
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        row = problem_type(status)
        self.status = status
        self.type = row.uri if row.slug else "about:blank"
        self.title = row.title
        self.detail = detail or row.detail
        self.errors = errors
        self.headers = dict(headers or {})
        if status == 401:
            self.headers.setdefault("WWW-Authenticate", BEARER_CHALLENGE)
        super().__init__(f"{status} {self.title}: {self.detail}")

    def body(self, *, instance: str, request_id: str | None) -> ProblemDetails:
        """The RFC 9457 JSON object for this problem at request path `instance`."""
        doc: ProblemDetails = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "request_id": request_id,
        }
        if self.errors:
            doc["errors"] = cast(list[FieldError], self.errors)
        return doc


def error_message(error: ErrorDetails) -> str:
    """What one pydantic validation error says to a person: pydantic's message, or our own
    validator's words as they were raised (without pydantic's "Value error, " prefix)."""
    if error["type"] == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    return error["msg"]


def validation_problem(errors: list[dict[str, str]]) -> Problem:
    """400 with per-field `errors` ([{field, message}]): invalid values of a body or a query."""
    return Problem(400, INVALID_VALUES, errors=errors)


def unauthorized(detail: str = "missing or invalid access token", *, error: str = "") -> Problem:
    """401 with `WWW-Authenticate: Bearer` (RFC 6750 §3); `error` e.g. `invalid_token`."""
    challenge = BEARER_CHALLENGE
    if error:
        challenge += f', error="{error}"'
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str | None = None) -> Problem:
    """403: authenticated but the role or ownership does not allow the action."""
    return Problem(403, detail)


def conflict(detail: str) -> Problem:
    """409: the request conflicts with the current state."""
    return Problem(409, detail)


def problem_table_markdown() -> str:
    """docs/problems.md's table of problem types, rendered from `PROBLEM_TYPES`."""
    lines = [
        "| status | `type` | `title` | standard `detail` | answered when | by the gateway too |",
        "|---|---|---|---|---|---|",
    ]
    for row in PROBLEM_TYPES.values():
        when = row.when.replace("|", "\\|")
        gateway = "yes" if row.gateway else ""
        lines.append(
            f"| {row.status} | `{row.uri}` | {row.title} | {row.detail} | {when} | {gateway} |"
        )
    return "\n".join(lines) + "\n"
