"""aiohttp application factory: request context, access log, metrics and problem+json for every error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import structlog
import uvloop
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError
from pydantic_core import to_jsonable_python

from nocturnal.shared.clock import rfc3339
from nocturnal.shared.config import ServiceSettings, load_settings
from nocturnal.shared.gc_pauses import freeze_start_up_objects, observe_gc_pauses
from nocturnal.shared.health import (
    READINESS,
    Liveness,
    Readiness,
    ReadinessReport,
    live_handler,
    ready_handler,
)
from nocturnal.shared.http.context import REQUEST_ID_HEADER, request_id_from
from nocturnal.shared.http.errors import SHARED_PROBLEMS, ProblemTable
from nocturnal.shared.http.openapi import openapi_document
from nocturnal.shared.http.overload import request_limit, sheddable
from nocturnal.shared.http.routes import ROUTE_TABLES, Reply, Route, RouteTable, add_routes
from nocturnal.shared.json_text import encode
from nocturnal.shared.logging import bind_context, configure_logging, get_logger
from nocturnal.shared.metrics import (
    METRICS_SAMPLERS,
    count_request,
    metrics_handler,
)
from nocturnal.shared.problems import PROBLEM_CONTENT_TYPE, Problem
from nocturnal.shared.tracing import configure_tracing, tag_request_id

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


def dumps(data: Any) -> bytes:
    """`data` as the JSON text of a response body (UTF-8): datetimes become RFC 3339 strings
    with milliseconds (`2026-11-30T22:00:05.123Z`), pydantic models their JSON form."""
    return encode(data, _jsonable)


log = get_logger("http")


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON response (`application/json; charset=utf-8`) of `data`, encoded by `dumps`."""
    return web.Response(
        body=dumps(data),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


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
        body=dumps(body),
        status=problem.status,
        content_type=PROBLEM_CONTENT_TYPE,
        charset="utf-8",
    )
    response.headers.update(problem.headers)
    return response


def _problem_from_http_exception(exc: web.HTTPException) -> Problem:
    # Raised by aiohttp itself (unknown path, wrong method, body over client_max_size): its
    # texts give way to the table's standard wording, which the gateway answers too.
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return Problem(exc.status, headers=headers)


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[REQUEST_ID_HEADER] = request.get(REQUEST_ID, "")
    response.headers.update(request.get(RESPONSE_HEADERS, {}))
    if request.app[READINESS].draining:
        # A gateway must not reuse this connection: it may be closed idle once the drain ends.
        # The header is set here too: aiohttp runs this hook after it wrote its own headers.
        response.force_close()
        response.headers["Connection"] = "close"


Guard = Callable[[web.Request], Awaitable[None]]
"""A check every request passes before its handler (e.g. the api's rate limit); raises a
`Problem` to refuse it."""


def request_pipeline(
    *, service: str, max_in_flight: int, problems: ProblemTable, guard: Guard | None = None
) -> Middleware:
    """The one middleware of a service: what every request goes through, in this order.

    1. Request id (the caller's `X-Request-ID` when well-formed, else a new one), bound to the
       log context and the current span (the tracing middleware, outside this one when tracing
       is on, owns the trace context); echoed on every response with the headers queued by
       `add_response_headers`.
    2. The in-flight bound (`MAX_IN_FLIGHT`, `request_limit`): the excess is answered 503 +
       `Retry-After` at once; probes and `/metrics` are not counted.
    3. Content-coded request bodies refused (415): no decoding errors, no decompression bombs
       (every `Content-Encoding` field counts, not only the first).
    4. `guard` (when given), then the handler.
    5. Every error answered as RFC 9457 problem+json: a `Problem`, aiohttp's HTTP errors, an
       undecodable body (400), the errors of `problems` (+ `SHARED_PROBLEMS`, nearest class in
       the MRO), anything else 500 (logged with its traceback).
    6. The access log line (not for probes and `/metrics`) and the request metrics.

    One middleware rather than one per step: each middleware costs aiohttp a wrapper and a
    coroutine per request (decision 42).
    """
    requests = request_limit(max_in_flight, service=service)
    table = {**SHARED_PROBLEMS, **problems}

    def domain_problem(exc: Exception) -> Problem | None:
        answer = next((table[cls] for cls in type(exc).__mro__ if cls in table), None)
        return None if answer is None else answer(exc)

    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        counted = sheddable(path)
        try:
            if counted:
                requests.take()
            try:
                if "Content-Encoding" in request.headers and _content_coded(request):
                    raise Problem(415)  # the gateway's wording: the table's standard detail
                if guard is not None:
                    await guard(request)
                return await handler(request)
            finally:
                if counted:
                    requests.give()
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
        except Exception as exc:
            answered = domain_problem(exc)
            if answered is None:
                log.exception("unhandled error")
                answered = Problem(500)
            return problem_response(request, answered)

    @web.middleware
    async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
        structlog.contextvars.clear_contextvars()
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request[REQUEST_ID] = request_id
        bind_context(request_id=request_id)
        tag_request_id(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = await answer(request, handler)
            status = response.status
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(request)
            count_request(service, route, request.method, status, elapsed)
            if sheddable(request.path):
                log.info(
                    "request",
                    method=request.method,
                    path=request.path,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )

    return pipeline


def _content_coded(request: web.Request) -> bool:
    codings = {
        coding.strip().lower()
        for field in request.headers.getall("Content-Encoding", [])
        for coding in field.split(",")
    }
    return bool(codings - {"", "identity"})


OPENAPI_JSON = web.AppKey("openapi_json", bytes)

LISTEN_BACKLOG = 1024
"""Connections the kernel queues for a service before it accepts them (aiohttp's default is
128, capped by `net.core.somaxconn`). A burst beyond the queue is not refused but dropped: the
gateway's connect times out and the client gets a 504 after `proxy_connect_timeout`; queued,
the burst reaches the service, whose `MAX_IN_FLIGHT` bound sheds the excess at once with 503 +
`Retry-After` (found with 600 concurrent logins on one auth instance)."""


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


def create_service_app(
    settings: ServiceSettings,
    *,
    service: str,
    problems: ProblemTable | None = None,
    guard: Guard | None = None,
) -> web.Application:
    """The base application every service builds on.

    Has the `request_pipeline` middleware (with the service's `problems` table and `guard`),
    `/health/live`, `/health/ready` (checks are added
    to `app[READINESS]`), `/metrics` and `/openapi.json` (the document of every route table added
    with `add_routes`, built when the app starts); request bodies over
    `settings.max_json_body_bytes` are refused with 413 unless a route streams its body.
    """
    app = web.Application(
        middlewares=[
            request_pipeline(
                service=service,
                max_in_flight=settings.max_in_flight,
                problems=problems or {},
                guard=guard,
            )
        ],
        client_max_size=settings.max_json_body_bytes,
        handler_args=HTTP_PARSER_LIMITS,
    )
    app[SETTINGS] = settings
    app[SERVICE] = service
    app[READINESS] = Readiness()
    app[METRICS_SAMPLERS] = []
    app.on_response_prepare.append(_on_prepare)
    app.on_startup.append(_build_openapi)
    add_routes(app, BASE_ROUTES)
    return app


def run_service(app: web.Application, settings: ServiceSettings) -> None:
    """Serve `app` on uvloop at settings.host:port until SIGTERM/SIGINT, then shut down gracefully.

    See :func:`serve_until_stopped` for the shutdown sequence and its bounds.
    """
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve_until_stopped(app, settings))


async def serve_until_stopped(app: web.Application, settings: ServiceSettings) -> None:
    """Start `app` (its cleanup contexts open), serve until SIGTERM/SIGINT, then drain and stop.

    Once started, and before it accepts a connection, the objects alive (modules, the app, the
    cleanup contexts' clients) are frozen out of the garbage collector's scans and every
    collection's pause is observed from then on (`nocturnal.shared.gc_pauses`).

    The shutdown sequence, all in seconds of the settings:

    1. the signal turns readiness 503 (`draining`) at once; every response from now on carries
       `Connection: close`, so keep-alive connections from gateways end after their request;
    2. after SIGTERM (an orchestrator's stop) the service keeps serving for `shutdown_drain_s`
       while endpoints and gateways stop sending; SIGINT (Ctrl-C, or a local runner stopping
       everything) or a second signal skips or ends this drain;
    3. it stops accepting connections and gives in-flight requests up to half of
       `shutdown_timeout_s`;
    4. the cleanup contexts close in reverse order: the event bus lets in-flight event handlers
       finish and flushes the outbox (up to 40 % of `shutdown_timeout_s`, see
       `EventBus.for_service`), then connections close.

    Steps 3-4 are cut off after `shutdown_timeout_s` in total, so the process ends within
    `shutdown_drain_s + shutdown_timeout_s` of the signal. A signal during start-up stops the
    start-up and closes what was opened.
    """
    stop = asyncio.Event()
    received: list[signal.Signals] = []
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, stop, received)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout_s * _REQUESTS_SHARE,
    )
    try:
        if await _until_stopped(runner.setup(), stop):
            frozen = freeze_start_up_objects()
            observe_gc_pauses()
            site = web.TCPSite(runner, settings.host, settings.port, backlog=LISTEN_BACKLOG)
            await site.start()
            log.info("serving", host=settings.host, port=settings.port, gc_frozen_objects=frozen)
            await stop.wait()
            drain_s = settings.shutdown_drain_s if received[0] is signal.SIGTERM else 0.0
            await _drain(app[READINESS], stop, drain_s)
    finally:
        await _stop(runner, settings.shutdown_timeout_s)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


_REQUESTS_SHARE = 0.25
"""aiohttp's shutdown_timeout as a share of SHUTDOWN_TIMEOUT_S. aiohttp waits that long for
in-flight handlers, then as long again after cancelling them: half of the budget in all."""


def _on_signal(signum: signal.Signals, stop: asyncio.Event, received: list[signal.Signals]) -> None:
    received.append(signum)
    stop.set()


async def _until_stopped(starting: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run `starting` unless `stop` is set first (then cancel it); True when it completed."""
    task = asyncio.ensure_future(starting)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        task.result()  # a start-up failure propagates
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("stopped during start-up")
    return False


async def _drain(readiness: Readiness, stop: asyncio.Event, drain_s: float) -> None:
    stop.clear()
    readiness.draining = True
    log.info("draining", drain_s=drain_s)
    if not drain_s:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), drain_s)


async def _stop(runner: web.AppRunner, timeout_s: float) -> None:
    started = time.perf_counter()
    log.info("shutting down", timeout_s=timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            await runner.cleanup()
    except TimeoutError:
        log.error("shutdown cut off: in-flight work did not finish in time", timeout_s=timeout_s)
        return
    log.info("stopped", shutdown_ms=round((time.perf_counter() - started) * 1000))


class RefusedRequestLog(logging.Filter):
    """Filter of aiohttp's `aiohttp.server` logger: a request its HTTP parser refuses (a control
    character in a header value, a malformed request line or header) becomes one line at info
    ("refused a malformed request from <address>: <parser error class>") instead of an ERROR
    with a traceback whose local variables hold the raw request bytes: any client could flood
    the error log and fire alerts. Dropped below `level` (a logging level number). Every other
    record, a genuine server error's included, passes as it is, traceback and all. aiohttp
    (3.14) has no setting for it: it logs every such request with `logger.exception`.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg, record.args = (
            "refused a malformed request from %s: %s",
            (
                remote,
                type(error).__name__,
            ),
        )
        record.exc_info = record.exc_text = None
        return self.level <= logging.INFO


def log_refused_requests_briefly(level: str) -> None:
    """Install `RefusedRequestLog` (once) on aiohttp's server logger; `level` is the service's
    LOG_LEVEL name (e.g. "INFO")."""
    server_log = logging.getLogger("aiohttp.server")
    for old in [f for f in server_log.filters if isinstance(f, RefusedRequestLog)]:
        server_log.removeFilter(old)
    server_log.addFilter(RefusedRequestLog(logging.getLevelNamesMapping()[level]))


def serve(
    service: str,
    settings_type: type[SettingsT],
    create_app: Callable[[SettingsT], web.Application],
) -> None:
    """The whole of a service's `__main__`: read the settings from the environment (exit 2
    with one line per invalid variable), configure logging and tracing, serve until
    SIGTERM/SIGINT."""
    settings = load_settings(settings_type)
    configure_logging(
        service=service,
        instance=settings.instance_name,
        level=settings.log_level,
        fmt=settings.resolved_log_format,
    )
    log_refused_requests_briefly(settings.log_level)
    configure_tracing(
        service, settings.instance_name, endpoint=settings.otel_exporter_otlp_endpoint
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
    "Guard",
    "Readiness",
    "add_response_headers",
    "create_service_app",
    "dumps",
    "json_response",
    "openapi_of",
    "problem_response",
    "request_pipeline",
    "run_service",
    "serve",
    "serve_until_stopped",
]
