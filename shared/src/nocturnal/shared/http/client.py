"""Outgoing HTTP to peer services: one keep-alive session per process, bounded timeouts, request
id and trace context propagation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
from aiohttp import web

from nocturnal.shared.http.app import CleanupContext
from nocturnal.shared.http.context import REQUEST_ID_HEADER
from nocturnal.shared.logging import context_value

HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)


async def _propagate_request_id(
    _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestStartParams
) -> None:
    value = context_value("request_id")
    if value and REQUEST_ID_HEADER not in params.headers:
        params.headers[REQUEST_ID_HEADER] = value


def peer_session(timeout_s: float, *, pool_size: int = 100) -> aiohttp.ClientSession:
    """A keep-alive `ClientSession` for peer calls.

    Every request gets a total timeout of `timeout_s` seconds and carries the current
    `X-Request-ID` (from the log context) and, when tracing is on, a CLIENT span's
    `traceparent` (W3C Trace Context; `nocturnal.shared.tracing`).
    """
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_propagate_request_id)
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 1.0)),
        connector=aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=30),
        trace_configs=[trace],
        raise_for_status=False,
    )


def http_session_context(timeout_s: float) -> CleanupContext:
    """aiohttp cleanup context storing a `peer_session` at `app[HTTP_SESSION]`."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async with peer_session(timeout_s) as session:
            app[HTTP_SESSION] = session
            yield

    return context
