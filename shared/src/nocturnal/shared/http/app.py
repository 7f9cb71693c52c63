"""aiohttp application factory: request context, access log, metrics and problem+json for every error."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import structlog
import uvloop
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from pydantic_core import to_jsonable_python

from nocturnal.shared.clock import rfc3339
from nocturnal.shared.config import ServiceSettings, load_settings
from nocturnal.shared.health import (
    READINESS,
    Liveness,
    Readiness,
    ReadinessReport,
    live_handler,
    ready_handler,
)
from nocturnal.shared.http.context import (
    REQUEST_ID_HEADER,
    TRACEPARENT_HEADER,
    request_id_from,
    traceparent_from,
)
from nocturnal.shared.http.openapi import openapi_document
from nocturnal.shared.http.routes import ROUTE_TABLES, Reply, Route, RouteTable, add_routes
from nocturnal.shared.logging import bind_context, configure_logging, get_logger
from nocturnal.shared.metrics import HTTP_DURATION, HTTP_REQUESTS, metrics_handler
from nocturnal.shared.problems import PROBLEM_CONTENT_TYPE, Problem

SETTINGS = web.AppKey("settings", ServiceSettings)
SERVICE = web.AppKey("service", str)
REQUEST_ID = web.RequestKey("request_id", str)
RESPONSE_HEADERS = web.RequestKey("response_headers", dict[str, str])

# aiohttp answers what its HTTP parser refuses with a plain-text 400, past every middleware.
# Its limits sit above the gateway's (request line and header line 8 KiB, at most about 1,000
# header fields, 32 KiB in all; beyond them the gateway answers 414 or 431 problems), so no
# size the gateway passes on meets that 400 here.
HTTP_PARSER_LIMITS = {"max_line_size": 16 * 1024, "max_field_size": 16 * 1024, "max_headers": 2048}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CleanupContext = Callable[[web.Application], AsyncIterator[None]]
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def _jsonable(value: Any) -> Any:
    # Every time in every response reads the same: RFC 3339, UTC, milliseconds.
    return rfc3339(value) if isinstance(value, datetime) else to_jsonable_python(value)


dumps = partial(json.dumps, default=_jsonable, separators=(",", ":"))
log = get_logger("http")


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON response; datetimes become RFC 3339 strings with milliseconds
    (`2026-11-30T22:00:05.123Z`), pydantic models their JSON form."""
    return web.json_response(data, status=status, headers=headers, dumps=dumps)


def add_response_headers(request: web.Request, headers: dict[str, str]) -> None:
    """Headers the middleware adds to this request's response, error or not (e.g. RateLimit)."""
    request.setdefault(RESPONSE_HEADERS, {}).update(headers)


def _route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def problem_response(request: web.Request, problem: Problem) -> web.Response:
    """Render `problem` as an RFC 9457 `application/problem+json` response."""
    body = problem.body(instance=request.path, request_id=request.get(REQUEST_ID))
    response = web.Response(
        text=dumps(body), status=problem.status, content_type=PROBLEM_CONTENT_TYPE
    )
    response.headers.update(problem.headers)
    return response


def _problem_from_http_exception(exc: web.HTTPException) -> Problem:
    # Raised by aiohttp itself (unknown path, wrong method, body over client_max_size): its
    # texts give way to the table's standard wording, which the gateway answers too.
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return Problem(exc.status, headers=headers)


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id + trace context (read or made), log context, access log, metrics.

    Echoes `X-Request-ID` on every response and adds headers queued with `add_response_headers`.
    """
    structlog.contextvars.clear_contextvars()
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    traceparent = traceparent_from(request.headers.get(TRACEPARENT_HEADER))
    request[REQUEST_ID] = request_id
    bind_context(request_id=request_id, traceparent=traceparent)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = _route_label(request)
        service = request.app[SERVICE]
        HTTP_REQUESTS.labels(service, route, request.method, str(status)).inc()
        HTTP_DURATION.labels(service, route, request.method).observe(elapsed)
        if not request.path.startswith(("/health/", "/metrics")):
            log.info(
                "request",
                method=request.method,
                path=request.path,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[REQUEST_ID_HEADER] = request.get(REQUEST_ID, "")
    response.headers.update(request.get(RESPONSE_HEADERS, {}))


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error (Problem, aiohttp HTTP errors, unexpected exceptions) into problem+json."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(request, problem)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(request, _problem_from_http_exception(exc))
    except (HttpProcessingError, RequestPayloadError):  # undecodable body (coding, framing)
        return problem_response(request, Problem(400, "the request body could not be decoded"))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error")
        return problem_response(request, Problem(500))


@web.middleware
async def identity_body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse content-coded request bodies (415): no decoding errors, no decompression bombs.

    Every `Content-Encoding` field counts, not only the first (a gateway may see only that).
    """
    codings = {
        coding.strip().lower()
        for field in request.headers.getall("Content-Encoding", [])
        for coding in field.split(",")
    }
    if codings - {"", "identity"}:
        raise Problem(415)  # the gateway's wording: the table's standard detail
    return await handler(request)


OPENAPI_JSON = web.AppKey("openapi_json", bytes)


def openapi_of(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route `app` serves (its route tables)."""
    tables: list[RouteTable] = app[ROUTE_TABLES]
    return openapi_document(
        tables,
        title=f"nocturnal {app[SERVICE]}",
        version=app[SETTINGS].version,
        description=f"The {app[SERVICE]} service's own routes, public and internal.",
    )


async def _build_openapi(app: web.Application) -> None:
    # Once per app: the routes are final when it starts, and no request pays for the document.
    app[OPENAPI_JSON] = json.dumps(openapi_of(app), separators=(",", ":")).encode()


async def openapi_handler(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this service's routes, with every answer's schema."""
    return web.Response(body=request.app[OPENAPI_JSON], content_type="application/json")


BASE_ROUTES = RouteTable(
    "operations",
    (
        Route(
            "GET",
            "/health/live",
            live_handler,
            "health-live",
            Reply(200, "The process answers.", Liveness),
            internal=True,
        ),
        Route(
            "GET",
            "/health/ready",
            ready_handler,
            "health-ready",
            Reply(200, "Every critical dependency check passes.", ReadinessReport),
            replies=(
                Reply(503, "A critical check fails, or the instance is draining.", ReadinessReport),
            ),
            internal=True,
        ),
        Route(
            "GET",
            "/metrics",
            metrics_handler,
            "metrics",
            Reply(200, "The metrics.", {"type": "string"}, media_type="text/plain"),
            internal=True,
        ),
        Route(
            "GET",
            "/openapi.json",
            openapi_handler,
            "openapi",
            Reply(200, "This document.", dict[str, Any]),
            internal=True,
        ),
    ),
)
"""What every service serves besides its own routes."""


def create_service_app(settings: ServiceSettings, *, service: str) -> web.Application:
    """The base application every service builds on.

    Has the context and problem middlewares, `/health/live`, `/health/ready` (checks are added
    to `app[READINESS]`), `/metrics` and `/openapi.json` (the document of every route table added
    with `add_routes`, built when the app starts); request bodies over
    `settings.max_json_body_bytes` are refused with 413 unless a route streams its body.
    """
    app = web.Application(
        middlewares=[context_middleware, problem_middleware, identity_body_middleware],
        client_max_size=settings.max_json_body_bytes,
        handler_args=HTTP_PARSER_LIMITS,
    )
    app[SETTINGS] = settings
    app[SERVICE] = service
    app[READINESS] = Readiness()
    app.on_response_prepare.append(_on_prepare)
    app.on_startup.append(_build_openapi)
    add_routes(app, BASE_ROUTES)
    return app


def run_service(app: web.Application, settings: ServiceSettings) -> None:
    """Serve `app` on uvloop at settings.host:port until SIGTERM/SIGINT, then shut down gracefully.

    On shutdown readiness turns 503 first, the listener closes, in-flight requests get up to
    `shutdown_timeout` seconds, then cleanup contexts close connections.
    """

    async def drain(app: web.Application) -> None:
        app[READINESS].draining = True

    app.on_shutdown.insert(0, drain)
    web.run_app(
        app,
        loop=uvloop.new_event_loop(),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        shutdown_timeout=10.0,
        handle_signals=True,
    )


def serve(
    service: str,
    settings_type: type[SettingsT],
    create_app: Callable[[SettingsT], web.Application],
) -> None:
    """The whole of a service's `__main__`: read the settings from the environment (exit 2
    with one line per invalid variable), configure logging, serve until SIGTERM/SIGINT."""
    settings = load_settings(settings_type)
    configure_logging(
        service=service,
        instance=settings.instance_name,
        level=settings.log_level,
        fmt=settings.resolved_log_format,
    )
    run_service(create_app(settings), settings)


__all__ = [
    "BASE_ROUTES",
    "OPENAPI_JSON",
    "READINESS",
    "REQUEST_ID",
    "RESPONSE_HEADERS",
    "SERVICE",
    "SETTINGS",
    "CleanupContext",
    "Readiness",
    "add_response_headers",
    "create_service_app",
    "dumps",
    "json_response",
    "openapi_of",
    "problem_response",
    "run_service",
    "serve",
]
