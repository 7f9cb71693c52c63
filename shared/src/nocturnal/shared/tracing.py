"""Traces with OpenTelemetry (W3C Trace Context): the SDK, exporting over OTLP/HTTP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set, and nothing at all otherwise.

On (:func:`configure_tracing`): a `TracerProvider` with a batch processor and the maintained
instrumentations: aiohttp server (a SERVER span per request, continuing the caller's
`traceparent`) and client (a CLIENT span per call, `traceparent` sent) for every application
and session made afterwards, PyMongo (command monitoring: the async client too) and redis. Events carry the context in their CloudEvent `traceparent` (stored with the outbox
entry, so the relay's publish continues the request's trace) and in the AMQP headers; a
consumer's span is the publisher's child and links to it. Logs carry `trace_id`/`span_id`.

Off (the default): no provider is installed, so the API's no-op tracer answers every span
with the non-recording context it was given; nothing is instrumented, nothing is recorded or
exported, and no span context is made up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind

EXCLUDED_URLS_VARIABLE = "OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS"
"""The server instrumentation's paths not traced (regular expressions, comma-separated)."""
_tracer = trace.get_tracer("nocturnal")
_state = {"enabled": False}


def tracing_enabled() -> bool:
    """True once :func:`configure_tracing` turned tracing on in this process."""
    return _state["enabled"]


def configure_tracing(
    service: str, instance: str, *, endpoint: str | None, processor: Any | None = None
) -> bool:
    """Turn tracing on for this process when an OTLP `endpoint` is configured (or, in tests, a
    span `processor` such as a `SimpleSpanProcessor` of an `InMemorySpanExporter`); whether it
    is on. Call once, before the app is created. The exporter reads the standard `OTEL_*`
    variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, headers, timeout; spans go to `<endpoint>/v1/traces`).
    """
    if endpoint is None and processor is None:
        return False
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if processor is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        from nocturnal.shared.trace_export import GuardedExporter

        processor = BatchSpanProcessor(GuardedExporter(OTLPSpanExporter()))
    # Probes and scrapes every few seconds are not traces worth keeping (unless told otherwise).
    os.environ.setdefault(EXCLUDED_URLS_VARIABLE, r"/health/.*,/metrics")
    resource = Resource.create({"service.name": service, "service.instance.id": instance})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    AioHttpServerInstrumentor().instrument()
    AioHttpClientInstrumentor().instrument()
    PymongoInstrumentor().instrument()
    RedisInstrumentor().instrument()
    _state["enabled"] = True
    return True


REQUEST_ID_ATTRIBUTE = "nocturnal.request_id"


def tag_request_id(request_id: str) -> None:
    """Name the gateway's request id (`X-Request-ID`) on the current span, so a trace is found
    from a request id and the other way round (a no-op when tracing is off)."""
    trace.get_current_span().set_attribute(REQUEST_ID_ATTRIBUTE, request_id)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None when there is no trace (off)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def log_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: `trace_id` and `span_id` (lower-case hex) of the current span, when
    there is one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def _context_of(traceparent: str | None) -> Context | None:
    if traceparent is None:
        return None
    return propagate.extract({"traceparent": traceparent})


@contextmanager
def publishing(name: str, traceparent: str | None) -> Iterator[dict[str, str]]:
    """A PRODUCER span `<name> publish` continuing the trace of `traceparent` (the one stored
    with the event when it was made); yields the headers that carry it on (`traceparent`)."""
    with _tracer.start_as_current_span(
        f"{name} publish", context=_context_of(traceparent), kind=SpanKind.PRODUCER
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


@contextmanager
def consuming(
    name: str, traceparent: str | None, *, request_id: str | None = None
) -> Iterator[Span]:
    """A CONSUMER span `<name> process` for handling a message published under `traceparent`:
    in the producer's trace, its child, with a link to the producer's span (OpenTelemetry's
    messaging conventions); tagged with the event's `request_id` when it has one."""
    parent = _context_of(traceparent)
    links = []
    if parent is not None:
        producer = trace.get_current_span(parent).get_span_context()
        if producer.is_valid:
            links.append(Link(producer))
    with _tracer.start_as_current_span(
        f"{name} process", context=parent, kind=SpanKind.CONSUMER, links=links
    ) as span:
        if request_id is not None:
            span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
        yield span
