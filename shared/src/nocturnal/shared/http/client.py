"""Outgoing HTTP to peer services: one keep-alive session per process, bounded timeouts, context propagation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from nocturnal.shared.http.app import CleanupContext
from nocturnal.shared.http.context import REQUEST_ID_HEADER, TRACEPARENT_HEADER
from nocturnal.shared.json_text import encode

HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
_PROPAGATED = ((REQUEST_ID_HEADER, "request_id"), (TRACEPARENT_HEADER, "traceparent"))


async def _propagate_context(
    request: aiohttp.ClientRequest, send: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    # A client middleware, not a TraceConfig: trace signals cost every peer call several
    # awaits and parameter objects, this one function call.
    bound = structlog.contextvars.get_contextvars()
    for header, key in _PROPAGATED:
        value = bound.get(key)
        if value and header not in request.headers:
            request.headers[header] = value
    return await send(request)


def _json_body(value: object) -> str:
    return encode(value, _unencodable).decode()


def _unencodable(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def peer_session(timeout_s: float, *, pool_size: int = 100) -> aiohttp.ClientSession:
    """A keep-alive `ClientSession` for peer calls.

    Every request gets a total timeout of `timeout_s` seconds and carries the current
    `X-Request-ID` and `traceparent` (W3C Trace Context) from the log context.
    """
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 1.0)),
        connector=aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=30),
        middlewares=(_propagate_context,),
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
