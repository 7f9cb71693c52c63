"""The base app: problem+json for every error, request ids, strict JSON bodies."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app, json_response
from nocturnal.shared.http.request import RequestModel, client_ip, read_json
from nocturnal.shared.http.routes import Json, Reply, Route, RouteTable, add_routes
from nocturnal.shared.problems import PROBLEM_TYPES


class Shift(RequestModel):
    title: str
    hours: int


async def create_shift(request: web.Request) -> web.Response:
    shift = await read_json(request, Shift, max_bytes=1024)
    return json_response(shift.model_dump(), status=201)


async def whoami(request: web.Request) -> web.Response:
    return json_response({"ip": client_ip(request, "X-Real-IP")})


async def body_length(request: web.Request) -> web.Response:
    return json_response({"bytes": len(await request.read())})


async def boom(_: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient:
    app = create_service_app(ServiceSettings(), service="test")
    shifts = Route(
        "POST", "/shifts", create_shift, "create-shift", Reply(201, "It.", Shift), body=Json(Shift)
    )
    add_routes(app, RouteTable("test", (shifts,)))
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/boom", boom)
    app.router.add_put("/raw", body_length)
    return await aiohttp_client(app)


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body = await resp.json(content_type=None)
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "request_id"} <= body.keys()
    assert body["request_id"] == resp.headers["X-Request-ID"]
    if status == 401:  # RFC 9110 §15.5.2: every 401 carries a challenge
        assert resp.headers["WWW-Authenticate"].startswith("Bearer "), resp.headers
    return body


async def test_valid_body_is_accepted(client: TestClient) -> None:
    resp = await client.post("/shifts", json={"title": "Night", "hours": 8})
    assert resp.status == 201
    assert await resp.json() == {"title": "Night", "hours": 8}


async def test_unknown_route_is_a_404_problem_in_the_gateways_words(client: TestClient) -> None:
    body = await problem(await client.get("/nope"), 404)
    assert body["instance"] == "/nope"
    assert (body["type"], body["detail"]) == (PROBLEM_TYPES[404].uri, PROBLEM_TYPES[404].detail)


async def test_wrong_method_is_a_405_problem_with_allow(client: TestClient) -> None:
    resp = await client.delete("/shifts")
    body = await problem(resp, 405)
    assert "POST" in resp.headers["Allow"]
    assert body["detail"] == PROBLEM_TYPES[405].detail


async def test_a_body_over_the_apps_limit_is_the_tables_413(client: TestClient) -> None:
    # Over client_max_size: aiohttp's own 413, in the table's words like the gateway's.
    resp = await client.put("/raw", data=b"x" * (80 * 1024))
    body = await problem(resp, 413)
    assert (body["title"], body["detail"]) == ("Content Too Large", PROBLEM_TYPES[413].detail)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "Night", "hours": 8, "extra": 1}, "extra"),
        ({"title": "Night", "hours": "8"}, "hours"),
        ({"title": 5, "hours": 8}, "title"),
        ({"title": "Night"}, "hours"),
    ],
)
async def test_unknown_fields_and_wrong_types_are_400(
    client: TestClient, payload: dict[str, Any], field: str
) -> None:
    body = await problem(await client.post("/shifts", json=payload), 400)
    assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[1,2",
        b"\xff\xfe",
        b'{"title": "x",}',
        b'{"title": "x", "hours": NaN}',  # not JSON (RFC 8259 §6), though parsers take it
        b'{"title": "x", "hours": -Infinity}',
    ],
)
async def test_malformed_json_is_400(client: TestClient, raw: bytes) -> None:
    resp = await client.post("/shifts", data=raw, headers={"Content-Type": "application/json"})
    body = await problem(resp, 400)
    assert "JSON" in body["detail"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"title": "Night", "hours": 8, "title": "Day"}', "title"),
        (b'{"title": "Night", "hours": 8, "hours": 8}', "hours"),
        (b'{"title": "Night", "hours": 8, "extra": {"a": 1, "a": 2}}', "extra.a"),
        (b'{"title": "Night", "hours": 8, "extra": [0, {"b": {"a": 1, "a": 2}}]}', "extra.1.b.a"),
    ],
)
async def test_a_name_repeated_in_an_object_is_400(
    client: TestClient, raw: bytes, field: str
) -> None:
    # Which value would count is the parser's choice (RFC 8259 §4): refused, not guessed.
    resp = await client.post("/shifts", data=raw, headers={"Content-Type": "application/json"})
    body = await problem(resp, 400)
    assert [e["field"] for e in body["errors"]] == [field]
    assert "more than once" in body["errors"][0]["message"]


async def test_empty_body_is_400(client: TestClient) -> None:
    resp = await client.post("/shifts", data=b"", headers={"Content-Type": "application/json"})
    assert (await problem(resp, 400))["detail"] == "the request body is empty"


async def test_json_array_body_is_400(client: TestClient) -> None:
    await problem(await client.post("/shifts", json=[1, 2]), 400)


async def test_oversized_body_is_413(client: TestClient) -> None:
    resp = await client.post("/shifts", json={"title": "x" * 5000, "hours": 1})
    await problem(resp, 413)


async def test_non_json_content_type_is_415(client: TestClient) -> None:
    await problem(await client.post("/shifts", data="title=x"), 415)


async def test_unexpected_error_is_a_500_problem_without_internals(client: TestClient) -> None:
    body = await problem(await client.get("/boom"), 500)
    assert "secret" not in str(body)


async def test_request_id_is_echoed_when_valid_and_replaced_when_not(client: TestClient) -> None:
    resp = await client.get("/nope", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    resp = await client.get("/nope", headers={"X-Request-ID": "bad id\twith spaces"})
    made = resp.headers["X-Request-ID"]
    assert made != "bad id\twith spaces"
    assert uuid.UUID(hex=made).version == 4
    assert (uuid.UUID(hex=made).variant, uuid.UUID(hex=made).hex) == (uuid.RFC_4122, made)
    assert (await client.get("/nope")).headers["X-Request-ID"] != made


async def test_client_ip_comes_from_the_gateway_header_not_x_forwarded_for(
    client: TestClient,
) -> None:
    resp = await client.get(
        "/whoami", headers={"X-Real-IP": "203.0.113.7", "X-Forwarded-For": "1.2.3.4"}
    )
    assert (await resp.json())["ip"] == "203.0.113.7"
    resp = await client.get("/whoami", headers={"X-Forwarded-For": "1.2.3.4"})
    assert (await resp.json())["ip"] == "127.0.0.1"


async def test_health_and_metrics_answer(client: TestClient) -> None:
    assert (await client.get("/health/live")).status == 200
    assert (await client.get("/health/ready")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert "http_requests_total" in metrics
    spec = await (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "nocturnal test"
    assert {"/health/live", "/health/ready", "/metrics", "/openapi.json", "/shifts"} == set(
        spec["paths"]
    )


async def test_readiness_fails_on_a_critical_check_and_reports_an_optional_one(
    aiohttp_client: Any,
) -> None:
    from nocturnal.shared.health import READINESS

    async def down() -> bool:
        return False

    app = create_service_app(ServiceSettings(), service="test")
    app[READINESS].add("cache", down, critical=False)
    client = await aiohttp_client(app)
    ready = await client.get("/health/ready")
    assert (ready.status, (await ready.json())["checks"]) == (200, {"cache": "failing"})
    app[READINESS].add("database", down)
    ready = await client.get("/health/ready")
    assert ready.status == 503
    app[READINESS].draining = True
    app[READINESS].add("database", down, critical=False)
    assert (await client.get("/health/ready")).status == 503


async def test_json_answers_are_utf8_json_with_rfc3339_times(aiohttp_client: Any) -> None:
    async def values(_: web.Request) -> web.Response:
        return json_response(
            {
                "at": datetime(2026, 11, 30, 22, 0, 5, 123456, tzinfo=UTC),
                "day": date(2026, 11, 30),
                "rate": Decimal("95.50"),
                "name": "Zoë 東京",
                "big": 2**70,
                "odd": "\ud800",
                "shift": Shift(title="night", hours=8),
            }
        )

    app = create_service_app(ServiceSettings(), service="test")
    app.router.add_get("/values", values)
    resp = await (await aiohttp_client(app)).get("/values")
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(await resp.read()) == {
        "at": "2026-11-30T22:00:05.123Z",
        "day": "2026-11-30",
        "rate": "95.50",
        "name": "Zoë 東京",
        "big": 2**70,
        "odd": "\ud800",
        "shift": {"title": "night", "hours": 8},
    }


def test_request_metrics_count_each_label_set_apart() -> None:
    from prometheus_client import REGISTRY

    from nocturnal.shared.metrics import count_request

    def served(status: str) -> float:
        labels = {"service": "metrics-test", "route": "/r", "method": "GET", "status": status}
        return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0

    def observed() -> float:
        labels = {"service": "metrics-test", "route": "/r", "method": "GET"}
        return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0.0

    before = (served("200"), served("404"), observed())
    count_request("metrics-test", "/r", "GET", 200, 0.001)
    count_request("metrics-test", "/r", "GET", 200, 0.002)
    count_request("metrics-test", "/r", "GET", 404, 0.003)
    assert (served("200"), served("404"), observed()) == (
        before[0] + 2,
        before[1] + 1,
        before[2] + 3,
    )


def test_loggers_made_before_configuration_follow_it() -> None:
    import subprocess
    import sys

    # A process of its own: configuring structlog here would bind pytest's capture streams.
    program = (
        "from nocturnal.shared.logging import configure_logging, get_logger\n"
        "early = get_logger('early')\n"
        "configure_logging(service='svc', instance='i-1', fmt='json')\n"
        "early.info('hello', n=1)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    line = json.loads(out.strip().splitlines()[-1])
    assert (line["service"], line["instance"], line["component"], line["n"]) == (
        "svc",
        "i-1",
        "early",
        1,
    )


def test_log_lines_are_json_whatever_the_values() -> None:
    import subprocess
    import sys

    program = (
        "import logging\n"
        "from nocturnal.shared.logging import configure_logging, get_logger\n"
        "configure_logging(service='svc', instance='i-1', fmt='json')\n"
        "get_logger('t').info('odd', big=2**70, obj=object, text='Zoë', at={1: 2})\n"
        "logging.getLogger('lib').warning('from the standard library %s', 'Zoë')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    odd, stdlib = (json.loads(line) for line in out.strip().splitlines()[-2:])
    assert (odd["event"], odd["big"], odd["obj"], odd["text"], odd["at"]) == (
        "odd",
        2**70,
        "<class 'object'>",
        "Zoë",
        {"1": 2},
    )
    assert {"service": "svc", "level": "info"}.items() <= odd.items()
    assert "timestamp" in odd and "timestamp" in stdlib
    assert (stdlib["event"], stdlib["level"]) == ("from the standard library Zoë", "warning")


@pytest.mark.parametrize("limit", ["²", "٣", "1e3", "-1", "0", "101", "9" * 40, " 5"])
async def test_integer_query_parameters_refuse_anything_but_ascii_digits_in_range(
    aiohttp_client: Any, limit: str
) -> None:
    from typing import Annotated

    from pydantic import Field

    from nocturnal.shared.http.request import QueryModel, integer_in, parse_query

    class Listing(QueryModel):
        limit: Annotated[int, Field(ge=1, le=100), integer_in(1, 100)] = 20

    async def listing(request: web.Request) -> web.Response:
        return json_response({"limit": parse_query(request, Listing).limit})

    app = create_service_app(ServiceSettings(), service="test")
    app.router.add_get("/items", listing)
    client = await aiohttp_client(app)
    resp = await client.get("/items", params={"limit": limit})
    body = await problem(resp, 400)
    assert body["errors"] == [{"field": "limit", "message": "must be an integer from 1 to 100"}]
    assert (await (await client.get("/items", params={"limit": "7"})).json()) == {"limit": 7}
    assert (await (await client.get("/items")).json()) == {"limit": 20}


# Codings aiohttp cannot decode at all (br without Brotli) are refused by its HTTP parser before
# any application code; the gateway answers those with its own 415 problem.
@pytest.mark.parametrize(
    "codings", [["gzip"], ["deflate"], ["identity", "gzip"], ["identity, gzip"]]
)
async def test_content_coded_bodies_are_a_415_problem_whatever_the_header_layout(
    client: TestClient, codings: list[str]
) -> None:
    import gzip

    from multidict import CIMultiDict

    headers = CIMultiDict([("Content-Type", "application/json")])
    for coding in codings:
        headers.add("Content-Encoding", coding)
    body = gzip.compress(b'{"title": "x", "hours": 1}')
    resp = await client.post("/shifts", data=body, headers=headers)
    assert (await problem(resp, 415))["detail"] == PROBLEM_TYPES[415].detail


async def test_identity_coding_is_accepted(client: TestClient) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "identity"}
    resp = await client.post("/shifts", data=b'{"title": "x", "hours": 1}', headers=headers)
    assert resp.status == 201


@pytest.mark.parametrize("title", ["evil\u0000", "\u202eevil", "a\u0007b", "x\u2066y", "z\u0085z"])
async def test_text_with_control_or_bidi_override_characters_is_refused(
    client: TestClient, title: str
) -> None:
    body = await problem(await client.post("/shifts", json={"title": title, "hours": 1}), 400)
    assert body["errors"][0]["field"] == "title"
    # The validator's own words, without pydantic's "Value error, " in front.
    assert body["errors"][0]["message"].startswith("must not contain ")


async def test_ordinary_unicode_is_kept(client: TestClient) -> None:
    title = "Nachtdienst — Station 3 \u043d\u043e\u0447\u044c \u2014 \u5916\u79d1"
    resp = await client.post("/shifts", json={"title": title, "hours": 8})
    assert (await resp.json())["title"] == title


async def _raw_exchange(port: int, head: bytes, pieces: list[bytes], pause_s: float) -> bytes:
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    for piece in pieces:
        await writer.drain()
        await asyncio.sleep(pause_s)
        writer.write(piece)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    return answer


@pytest.fixture
async def patient_client(aiohttp_client: Any) -> TestClient:
    async def create(request: web.Request) -> web.Response:
        shift = await read_json(request, Shift, max_bytes=1024, timeout_s=0.5)
        return json_response(shift.model_dump(), status=201)

    app = create_service_app(ServiceSettings(), service="test")
    app.router.add_post("/shifts", create)
    return await aiohttp_client(app)


async def test_a_body_arriving_in_pieces_is_read_whole(patient_client: TestClient) -> None:
    body = b'{"title": "Night", "hours": 8}'
    head = b"POST /shifts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    answer = await _raw_exchange(patient_client.port, head, [body[:9], body[9:]], 0.05)
    assert answer.startswith(b"HTTP/1.1 201")


async def test_a_stalled_body_is_a_408_problem(patient_client: TestClient) -> None:
    head = b"POST /shifts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: 100\r\n\r\n"
    answer = await _raw_exchange(patient_client.port, head, [b'{"title": '], 0.0)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"application/problem+json" in answer


async def test_a_route_without_query_parameters_refuses_any_and_creates_nothing(
    client: TestClient,
) -> None:
    # Found by a fresh-user trial: `?unknown=1` was 400 on listings but ignored elsewhere.
    resp = await client.post("/shifts?hours=9", json={"title": "x", "hours": 1})
    body = await problem(resp, 400)
    assert body["errors"] == [{"field": "hours", "message": "Extra inputs are not permitted"}]
    resp = await client.post("/shifts", json={"title": "x", "hours": 1})
    assert resp.status == 201


async def test_query_parameters_given_twice_or_not_fitting_together_are_named(
    aiohttp_client: Any,
) -> None:
    from pydantic import model_validator

    from nocturnal.shared.http.request import QueryModel, parse_query

    class Window(QueryModel):
        start: int = 0
        end: int = 10

        @model_validator(mode="after")
        def ordered(self) -> Window:
            if self.start > self.end:
                raise ValueError("start must not be after end")
            return self

    async def window(request: web.Request) -> web.Response:
        query = parse_query(request, Window)
        return json_response({"start": query.start, "end": query.end})

    app = create_service_app(ServiceSettings(), service="test")
    app.router.add_get("/window", window)
    client = await aiohttp_client(app)
    # Which of two values was meant is unknowable: refused, not the first one silently kept.
    body = await problem(await client.get("/window?start=1&start=2&end=3&end=3"), 400)
    assert body["errors"] == [
        {"field": "end", "message": "given more than once"},
        {"field": "start", "message": "given more than once"},
    ]
    # An error of the query as a whole names the query, not a body a GET does not have.
    body = await problem(await client.get("/window?start=5&end=1"), 400)
    assert body["errors"] == [{"field": "(query)", "message": "start must not be after end"}]
    assert await (await client.get("/window?start=1&end=2")).json() == {"start": 1, "end": 2}
