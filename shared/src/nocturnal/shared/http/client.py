"""Outgoing HTTP to peer services: one keep-alive session per process, bounded timeouts, request
id and trace context propagation, and one circuit breaker per peer service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from nocturnal.shared.breaker import BreakerState, CircuitBreaker
from nocturnal.shared.health import READINESS
from nocturnal.shared.http.app import CleanupContext
from nocturnal.shared.http.context import REQUEST_ID_HEADER
from nocturnal.shared.json_text import encode

HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
PEER_BREAKERS = web.AppKey("peer_breakers", dict[str, CircuitBreaker])

PEER_FAILURES = (aiohttp.ClientError, TimeoutError)
"""What a failed peer call raises: refused or reset connections, error statuses raised for,
and the session's timeout."""


async def _propagate_request_id(
    request: aiohttp.ClientRequest, send: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    # A client middleware, not a TraceConfig: trace signals cost every peer call several
    # awaits and parameter objects, this one function call.
    value = structlog.contextvars.get_contextvars().get("request_id")
    if value and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = value
    return await send(request)


def _json_body(value: object) -> str:
    return encode(value, _unencodable).decode()


def _unencodable(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def peer_session(timeout_s: float, *, pool_size: int = 100) -> aiohttp.ClientSession:
    """A keep-alive `ClientSession` for peer calls.

    Every request gets a total timeout of `timeout_s` seconds and carries the current
    `X-Request-ID` (from the log context) and, when tracing is on, a CLIENT span's
    `traceparent` (W3C Trace Context; `nocturnal.shared.tracing`). JSON bodies are encoded
    with orjson (`nocturnal.shared.json_text`).
    """
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 1.0)),
        connector=aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=30),
        middlewares=(_propagate_request_id,),
        json_serialize=_json_body,
        raise_for_status=False,
    )


def http_session_context(timeout_s: float) -> CleanupContext:
    """aiohttp cleanup context storing a `peer_session` at `app[HTTP_SESSION]`."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async with peer_session(timeout_s) as session:
            app[HTTP_SESSION] = session
            yield

    return context


def peer_breaker(app: web.Application, peer: str) -> CircuitBreaker:
    """The app's circuit breaker in front of the peer service `peer` (`auth`, `upload`, ...),
    made on first use; every call to that peer (JWKS, revocations, signed URLs) goes through it.

    Three failures or timeouts in a row open it: calls are then skipped at once for 2 s and the
    caller takes its fallback (the cached keys, the epochs it has, a profile without a photo
    URL) instead of paying the peer timeout per request; then the next call is the half-open
    probe. One log line per change (`<peer> service unreachable` / `reachable again`), the
    `circuit_breaker_*` metrics, and the non-critical readiness check `<peer>` (failing while
    not closed; the service keeps serving).
    """
    breakers = app.setdefault(PEER_BREAKERS, {})
    if peer not in breakers:
        breaker = CircuitBreaker(
            peer,
            failure_threshold=3,
            open_s=2.0,
            opened_message=f"{peer} service unreachable",
            closed_message=f"{peer} service reachable again",
        )
        breakers[peer] = breaker

        async def closed() -> bool:
            return breaker.state is BreakerState.CLOSED

        app[READINESS].add(peer, closed, critical=False)
    found: CircuitBreaker = breakers[peer]
    return found
