"""One error shape: the table of problem types walked through the gateway and against each service.

Every case sends one raw HTTP request through the gateway; a case a service answers is also sent
straight to an instance of that service, which must answer the very same problem. A status the
gateway answers itself is asked of the services directly too where they can meet it, and both
must word it alike.
"""

from __future__ import annotations

import http.client
import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from nocturnal.shared.problems import INVALID_VALUES, PROBLEM_CONTENT_TYPE, PROBLEM_TYPES
from tools.devstack import Stack

pytestmark = pytest.mark.e2e

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "request_id"}
# Rows no case below provokes, and why: each is exercised where it can be.
NOT_WALKED = {
    408: "a stalled body takes the gateway's 30 s client_body_timeout (upload: tests/upload)",
    500: "no fault can be injected into a running stack (tests/shared/test_http_app.py)",
    502: "needs an instance dying mid-request (tests/chaos/test_api_instances.py)",
    503: "needs saturated hashing, a dead Redis, database or service (tests/auth, tests/chaos)",
    504: "needs an upstream that hangs for the 30 s read timeout",
}


@dataclass(frozen=True)
class Users:
    """Accounts made through the gateway for the cases that need one."""

    nurse_token: str
    admin_token: str
    email: str


@dataclass(frozen=True)
class Case:
    """One request and the problem it must get.

    `detail` None: the table's standard wording (which the gateway's own problems use too).
    `services`: the services also asked directly; they must answer the very same problem.
    `gateway` False: sent only directly (the gateway refuses such a request itself, or does not
    route it). `headers`: fields the answer must carry (`Allow`).
    """

    label: str
    status: int
    request: Callable[[Users], bytes]
    services: tuple[str, ...] = ()
    detail: str | None = None
    errors: bool = False
    gateway: bool = True
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def problem(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


def raw(
    method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def headers_only(target: str, headers: dict[str, str], content_length: int) -> bytes:
    """A POST that announces `content_length` bytes and sends none: answered from the headers."""
    return raw("POST", target, {**headers, "Content-Length": str(content_length)})


def send(port: int, request: bytes) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, response.headers, response.read())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


JSON = {"Content-Type": "application/json"}
DUTY = {
    "title": "Night cover",
    "hospital_name": "St Mary's",
    "department": "ICU",
    "specialty": "Critical Care",
    "description": "Overnight ICU cover.",
    "date": "2091-01-01",
    "start_time": "22:00",
    "end_time": "06:00",
    "hourly_rate": 90.0,
    "positions_needed": 1,
    "urgency": "NORMAL",
    "location": "London",
    "requirements": {"minimum_experience": 1, "required_skills": []},
}
BIG_JSON = json.dumps({"email": "x" * 100_000, "password": "y"}).encode()

CASES = [
    # 400 -----------------------------------------------------------------------------------
    Case("unparsable request line", 400, lambda _: b"GARBAGE\r\n\r\n"),
    Case("encoded slash in a path", 400, lambda _: raw("GET", "/api/auth/x%2F..%2Fhealth")),
    Case("raw UTF-8 in a path", 400, lambda _: "GET /api/ü HTTP/1.1\r\nHost: a\r\n\r\n".encode()),
    Case(
        "invalid body values",
        400,
        lambda _: raw("POST", "/api/auth/login", JSON, b'{"email": 1, "password": "x"}'),
        services=("auth",),
        detail=INVALID_VALUES,
        errors=True,
    ),
    Case(
        "?limit=abc",
        400,
        lambda u: raw("GET", "/api/duties?limit=abc", bearer(u.nurse_token)),
        services=("api",),
        detail=INVALID_VALUES,
        errors=True,
    ),
    Case(
        "?date_from=yesterday",
        400,
        lambda u: raw("GET", "/api/duties?date_from=yesterday", bearer(u.nurse_token)),
        services=("api",),
        detail=INVALID_VALUES,
        errors=True,
    ),
    Case(
        "?limit=0 on uploads",
        400,
        lambda u: raw("GET", "/api/uploads?limit=0", bearer(u.nurse_token)),
        services=("upload",),
        detail=INVALID_VALUES,
        errors=True,
    ),
    Case(
        "invalid check body",
        400,
        lambda _: raw("POST", "/v1/check", JSON, b'{"policy": "auth", "ip": 5}'),
        services=("ratelimit",),
        detail=INVALID_VALUES,
        errors=True,
        gateway=False,
    ),
    # 401 -----------------------------------------------------------------------------------
    *(
        Case(
            f"no token ({service})",
            401,
            lambda _, path=path: raw("GET", path),
            services=(service,),
            detail="missing or invalid access token",
        )
        for service, path in [
            ("auth", "/api/auth/me"),
            ("api", "/api/duties"),
            ("upload", "/api/uploads"),
        ]
    ),
    Case(
        "wrong password",
        401,
        lambda u: raw(
            "POST",
            "/api/auth/login",
            JSON,
            json.dumps({"email": u.email, "password": "not the password at all"}).encode(),
        ),
        services=("auth",),
        detail="the e-mail address or the password is wrong",
    ),
    # 403 -----------------------------------------------------------------------------------
    Case(
        "a nurse posts a duty",
        403,
        lambda u: raw(
            "POST", "/api/duties", {**JSON, **bearer(u.nurse_token)}, json.dumps(DUTY).encode()
        ),
        services=("api",),
        detail="this action needs the role hospital_admin",
    ),
    Case(
        "a forged download link",
        403,
        lambda _: raw(
            "GET", "/api/files/documents/2091-01-01/x.pdf?expires=1&filename=a&signature=b"
        ),
        services=("upload",),
        detail="the download link is invalid or expired",
    ),
    # 404 -----------------------------------------------------------------------------------
    Case("unknown path (gateway)", 404, lambda _: raw("GET", "/nope")),
    Case("internal path (gateway)", 404, lambda _: raw("GET", "/metrics")),
    *(
        Case(
            f"unknown path ({service})",
            404,
            lambda _, path=path: raw("GET", path),
            services=(service,),
        )
        for service, path in [
            ("auth", "/api/auth/nope"),
            ("api", "/api/nope"),
            ("upload", "/api/uploads/a/b/c"),
        ]
    ),
    Case(
        "unknown path (ratelimit)",
        404,
        lambda _: raw("GET", "/nope"),
        services=("ratelimit",),
        gateway=False,
    ),
    # 405 -----------------------------------------------------------------------------------
    Case(
        "TRACE (gateway)",
        405,
        lambda _: raw("TRACE", "/api/duties"),
        headers={"Allow": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"},
    ),
    Case(
        "DELETE login",
        405,
        lambda _: raw("DELETE", "/api/auth/login"),
        services=("auth",),
        headers={"Allow": "POST"},
    ),
    Case(
        "PUT duties",
        405,
        lambda _: raw("PUT", "/api/duties"),
        services=("api",),
        headers={"Allow": "GET,HEAD,POST"},
    ),
    Case(
        "PUT uploads",
        405,
        lambda _: raw("PUT", "/api/uploads"),
        services=("upload",),
        headers={"Allow": "GET,HEAD,POST"},
    ),
    Case(
        "GET check",
        405,
        lambda _: raw("GET", "/v1/check"),
        services=("ratelimit",),
        gateway=False,
        headers={"Allow": "POST"},
    ),
    # 409 -----------------------------------------------------------------------------------
    Case(
        "a taken e-mail",
        409,
        lambda u: raw(
            "POST",
            "/api/auth/register",
            JSON,
            json.dumps(
                {
                    "email": u.email,
                    "password": secrets.token_urlsafe(18),
                    # Not a word a random password can hold (passwords must not contain it).
                    "name": "Zoë Copy",
                    "role": "nurse",
                }
            ).encode(),
        ),
        services=("auth",),
        detail="an account with this e-mail address already exists",
    ),
    # 413 -----------------------------------------------------------------------------------
    Case(
        "2 MB to login (gateway)", 413, lambda _: headers_only("/api/auth/login", JSON, 2_000_000)
    ),
    Case(
        "30 MB upload (gateway)",
        413,
        lambda _: headers_only("/api/uploads?kind=document", {}, 30 * 2**20),
    ),
    Case(
        "100 KB to login",
        413,
        lambda _: raw("POST", "/api/auth/login", JSON, BIG_JSON),
        services=("auth",),
    ),
    Case(
        "100 KB duty",
        413,
        lambda u: raw("POST", "/api/duties", {**JSON, **bearer(u.admin_token)}, BIG_JSON),
        services=("api",),
    ),
    Case(
        "100 KB check",
        413,
        lambda _: raw("POST", "/v1/check", JSON, BIG_JSON),
        services=("ratelimit",),
        gateway=False,
    ),
    Case(
        "6 MiB profile photo",
        413,
        lambda u: headers_only(
            "/api/uploads?kind=profile-photo",
            {"Content-Type": "multipart/form-data; boundary=b", **bearer(u.nurse_token)},
            6 * 2**20,
        ),
        services=("upload",),
        detail=f"the file is limited to {5 * 2**20} bytes",
    ),
    # 414, 415, 431, 501, 505 ---------------------------------------------------------------
    Case("10 KB request target", 414, lambda _: raw("GET", "/api/" + "a" * 10_000)),
    Case(
        "content-coded body (gateway)",
        415,
        lambda _: raw("POST", "/api/auth/login", {**JSON, "Content-Encoding": "gzip"}, b"{}"),
    ),
    *(
        Case(
            f"content-coded body ({service})",
            415,
            lambda _, path=path: raw("POST", path, {**JSON, "Content-Encoding": "gzip"}, b"{}"),
            services=(service,),
            gateway=False,
        )
        for service, path in [
            ("auth", "/api/auth/login"),
            ("api", "/api/duties"),
            ("upload", "/api/uploads"),
            ("ratelimit", "/v1/check"),
        ]
    ),
    Case(
        "a text body to login",
        415,
        lambda _: raw("POST", "/api/auth/login", {"Content-Type": "text/plain"}, b"{}"),
        services=("auth",),
        detail="the request body must be application/json",
    ),
    Case("one 20 KB header", 431, lambda _: raw("GET", "/api/health", {"X-Big": "a" * 20_000})),
    Case(
        "40 KB of headers",
        431,
        lambda _: raw("GET", "/api/health", {f"X-Big-{i}": "a" * 4000 for i in range(10)}),
    ),
    Case(
        "Transfer-Encoding gzip",
        501,
        lambda _: raw("POST", "/api/auth/login", {**JSON, "Transfer-Encoding": "gzip"}),
    ),
    Case("HTTP/2.0 request line", 505, lambda _: b"GET /api/health HTTP/2.0\r\nHost: a\r\n\r\n"),
]


def gateway_port(stack: Stack) -> int:
    return int(stack.base_url.rsplit(":", 1)[1])


def service_port(stack: Stack, service: str) -> int:
    return next(instance.port for instance in stack.instances if instance.service == service)


def register(stack: Stack, role: str) -> dict[str, Any]:
    email = f"e2e.problems.{secrets.token_hex(4)}@example.com"
    body = {"email": email, "password": secrets.token_urlsafe(18), "name": "Sam", "role": role}
    answer = send(
        gateway_port(stack), raw("POST", "/api/auth/register", JSON, json.dumps(body).encode())
    )
    assert answer.status == 201, answer.body
    registered: dict[str, Any] = json.loads(answer.body)
    return registered


@pytest.fixture(scope="module")
def users(gateway_stack: Stack) -> Users:
    nurse = register(gateway_stack, "nurse")
    admin = register(gateway_stack, "hospital_admin")
    return Users(nurse["access_token"], admin["access_token"], admin["user"]["email"])


def assert_problem(answer: Answer, case: Case, where: str) -> dict[str, Any]:
    """`answer` is the table's problem for `case`; its body."""
    assert answer.status == case.status, f"{where}: {answer.status} {answer.body[:300]!r}"
    assert answer.headers.get_content_type() == PROBLEM_CONTENT_TYPE, where
    problem = answer.problem()
    row = PROBLEM_TYPES[case.status]
    assert problem.keys() - {"errors"} == PROBLEM_FIELDS, where
    assert (problem["type"], problem["title"], problem["status"]) == (
        row.uri,
        row.title,
        row.status,
    )
    assert problem["detail"] == (case.detail or row.detail), where
    assert bool(problem.get("errors")) == case.errors, where
    assert problem["request_id"] == answer.headers["X-Request-ID"], where
    for name, value in case.headers.items():
        assert answer.headers[name] == value, f"{where}: {name}"
    return problem


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.status} {case.label}")
def test_a_status_has_the_tables_type_title_and_wording_whoever_answers(
    gateway_stack: Stack, users: Users, case: Case
) -> None:
    answers = []
    if case.gateway:
        answer = send(gateway_port(gateway_stack), case.request(users))
        answers.append(assert_problem(answer, case, "gateway"))
    for service in case.services:
        answer = send(service_port(gateway_stack, service), case.request(users))
        answers.append(assert_problem(answer, case, service))

    shapes = {(a["type"], a["title"], a["detail"], json.dumps(a.get("errors"))) for a in answers}
    assert len(shapes) == 1, shapes


def test_a_rate_limited_login_is_the_same_429_through_the_gateway_and_from_auth(
    gateway_stack: Stack,
) -> None:
    login = json.dumps(
        {"email": f"e2e.limited.{secrets.token_hex(4)}@example.com", "password": "x"}
    )
    request = raw("POST", "/api/auth/login", JSON, login.encode())
    statuses = [send(gateway_port(gateway_stack), request).status for _ in range(6)]
    # Straight to auth from the same address (127.0.0.1): the same (address, e-mail) counter.
    answers = {
        "gateway": send(gateway_port(gateway_stack), request),
        "auth": send(service_port(gateway_stack, "auth"), request),
    }

    assert statuses == [401] * 5 + [429]
    row = PROBLEM_TYPES[429]
    for where, answer in answers.items():
        assert answer.status == 429, where
        assert answer.headers.get_content_type() == PROBLEM_CONTENT_TYPE
        problem = answer.problem()
        assert (problem["type"], problem["title"]) == (row.uri, row.title), where
        assert problem["detail"].startswith("rate limit of the auth policy reached"), where
        assert int(answer.headers["Retry-After"]) >= 1, where


@pytest.mark.parametrize(
    "headers",
    [
        {f"X-Field-{i}": "v" for i in range(900)},
        {"X-Big": "a" * 8150},
        {f"X-Big-{i}": "a" * 7000 for i in range(4)},
    ],
    ids=["900 fields", "an 8 KB field", "28 KB of fields"],
)
def test_headers_the_gateway_passes_on_parse_in_the_service(
    gateway_stack: Stack, headers: dict[str, str]
) -> None:
    # aiohttp's own limits (128 fields, 8190 bytes) once made these a plain-text 400.
    answer = send(gateway_port(gateway_stack), raw("GET", "/api/health", headers))

    assert answer.status == 200, answer.body[:200]


def test_every_row_of_the_table_is_walked_or_says_why_not() -> None:
    walked = {case.status for case in CASES} | {429}

    assert not walked & NOT_WALKED.keys()
    assert walked | NOT_WALKED.keys() == set(PROBLEM_TYPES)
