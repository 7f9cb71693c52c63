"""One trace across HTTP: a service calling a peer through the shared peer session records a
SERVER span continuing the caller's `traceparent`, a CLIENT span under it and the peer's SERVER
span under that (SDK in-memory exporter, real sockets); logs carry trace_id/span_id; with
tracing off nothing is instrumented."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.trace import SpanKind
from tracing_spans import TRACER, finished, parent_id

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app
from nocturnal.shared.http.client import HTTP_SESSION, http_session_context
from nocturnal.shared.tracing import log_trace_ids

PEER_URL = web.AppKey("peer_url", str)


def app(service: str) -> web.Application:
    return create_service_app(ServiceSettings(NOCTURNAL_ENV="test"), service=service)


async def test_a_peer_call_is_one_trace_from_the_callers_span_to_the_peers_handler(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
) -> None:
    async def check(request: web.Request) -> web.Response:
        return web.json_response({"request_id": request.headers.get("X-Request-ID")})

    peer = app("ratelimit")
    peer.router.add_post("/v1/check", check)
    async with TestServer(peer) as peer_server:

        async def duties(request: web.Request) -> web.Response:
            url = request.app[PEER_URL]
            async with request.app[HTTP_SESSION].post(url) as response:
                return web.json_response(await response.json())

        api = app("api")
        api[PEER_URL] = str(peer_server.make_url("/v1/check"))
        api.cleanup_ctx.append(http_session_context(2.0))
        api.router.add_get("/api/duties", duties)
        client = await aiohttp_client(api)

        # The test's own client is instrumented too: it plays the gateway's hop.
        with TRACER.start_as_current_span("gateway") as gateway:
            response = await client.get("/api/duties", headers={"X-Request-ID": "req-42"})
        assert response.status == 200
        assert (await response.json()) == {"request_id": "req-42"}

    (gateway_client,) = finished("GET")
    (api_span,) = finished("GET /api/duties")
    (client_span,) = finished("POST")
    (peer_span,) = finished("POST /v1/check")
    assert (api_span.kind, client_span.kind, peer_span.kind) == (
        SpanKind.SERVER,
        SpanKind.CLIENT,
        SpanKind.SERVER,
    )
    trace_ids = {span.context.trace_id for span in (api_span, client_span, peer_span)}
    assert trace_ids == {gateway.get_span_context().trace_id}
    assert parent_id(gateway_client) == gateway.get_span_context().span_id
    assert parent_id(api_span) == gateway_client.context.span_id
    assert parent_id(client_span) == api_span.context.span_id
    assert parent_id(peer_span) == client_span.context.span_id
    # The gateway's request id names every server span of the trace.
    assert api_span.attributes is not None and peer_span.attributes is not None
    assert api_span.attributes["nocturnal.request_id"] == "req-42"
    assert peer_span.attributes["nocturnal.request_id"] == "req-42"


def test_log_lines_carry_the_current_trace_and_span_ids() -> None:
    with TRACER.start_as_current_span("work") as span:
        line: dict[str, Any] = log_trace_ids(None, "info", {"event": "hello"})
    context = span.get_span_context()
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in log_trace_ids(None, "info", {"event": "outside any span"})


OFF = """
import asyncio
from opentelemetry import trace
from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.events.envelope import new_event
from nocturnal.shared.http.app import create_service_app
from nocturnal.shared.http.client import peer_session
from nocturnal.shared.tracing import configure_tracing, tracing_enabled

assert not configure_tracing("api", "api-1", endpoint=None)
assert not tracing_enabled()
assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
app = create_service_app(ServiceSettings(NOCTURNAL_ENV="test"), service="api")
assert len(app.middlewares) == 1, app.middlewares  # the request pipeline, no tracing

async def sessions():
    async with peer_session(1.0) as session:
        assert session.trace_configs == []  # the request id goes through a client middleware
asyncio.run(sessions())
assert new_event("duty.posted", {}, service="api").traceparent is None
print("off")
"""


def test_without_an_otlp_endpoint_nothing_is_instrumented_or_recorded() -> None:
    result = subprocess.run(
        [sys.executable, "-c", OFF], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "off"
