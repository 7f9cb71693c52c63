"""Tracing on for the whole test session, into the SDK's in-memory exporter: every app and
session the tests make is traced as in production with `OTEL_EXPORTER_OTLP_ENDPOINT` set, and
a test reads the finished spans (`SPANS`, cleared before each test)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nocturnal.shared.tracing import configure_tracing

SPANS = InMemorySpanExporter()
configure_tracing("tests", "pytest", endpoint=None, processor=SimpleSpanProcessor(SPANS))
TRACER = trace.get_tracer("tests")


def traceparent_of(span: trace.Span | ReadableSpan) -> str:
    """The W3C `traceparent` naming `span`."""
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def finished(name: str) -> list[ReadableSpan]:
    """The finished spans called `name`."""
    return [span for span in SPANS.get_finished_spans() if span.name == name]


def parent_id(span: ReadableSpan) -> int | None:
    """The span id of `span`'s parent (None for a root)."""
    return None if span.parent is None else span.parent.span_id
