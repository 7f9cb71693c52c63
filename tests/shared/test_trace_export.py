"""A collector that is down costs one log line and no export attempts until the breaker's next
probe: the real OTLP/HTTP exporter against a real HTTP server answering 503."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nocturnal.shared.trace_export import GuardedExporter


class Collector:
    """An OTLP/HTTP endpoint answering `status` to every export, counting them."""

    def __init__(self) -> None:
        self.status = 503
        self.hits = 0
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                collector.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(collector.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()


def spans() -> list:  # type: ignore[type-arg]
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("test").start_as_current_span("work"):
        pass
    return list(memory.get_finished_spans())


def test_a_collector_down_is_tried_once_per_open_interval(collector: Collector) -> None:
    now = [0.0]
    exporter = GuardedExporter(
        OTLPSpanExporter(endpoint=collector.url, timeout=0.5), open_s=10.0, clock=lambda: now[0]
    )
    batch = spans()
    assert exporter.export(batch) is SpanExportResult.FAILURE
    tried = collector.hits
    assert tried >= 1  # the exporter's own retries within its timeout
    for _ in range(50):
        assert exporter.export(batch) is SpanExportResult.FAILURE
    assert collector.hits == tried  # open: dropped without a request

    collector.status = 200
    now[0] += 10.0  # the next batch is the probe: the collector is back
    assert exporter.export(batch) is SpanExportResult.SUCCESS
    assert exporter.export(batch) is SpanExportResult.SUCCESS
    assert collector.hits == tried + 2
