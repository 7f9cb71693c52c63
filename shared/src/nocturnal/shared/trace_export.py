"""Span export that a collector outage cannot flood the logs or stall a shutdown with (used by
`nocturnal.shared.tracing` when tracing is on; never imported otherwise)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from nocturnal.shared.breaker import CircuitBreaker


class GuardedExporter(SpanExporter):
    """A span exporter behind a circuit breaker: a collector that is down costs one log line
    (`trace collector unreachable`, then `trace collector reachable again`) and, while the
    breaker is open (10 s between attempts), no export attempt at all — batches are dropped at
    once, so neither the logs (the OTLP exporter's own per-batch and per-retry lines are
    silenced) nor a graceful shutdown wait on a collector that is not there.

    `exporter`: the wrapped `SpanExporter`; `clock`: monotonic seconds (tests pass a fake).
    Runs on the batch processor's thread only.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        open_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._exporter = exporter
        self._breaker = CircuitBreaker(
            "trace-collector",
            failure_threshold=1,
            open_s=open_s,
            clock=clock,
            opened_message="trace collector unreachable; spans are dropped",
            closed_message="trace collector reachable again",
        )
        for name in ("opentelemetry.exporter.otlp.proto.http", "opentelemetry.exporter.otlp"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export `spans`, or drop them at once while the collector is known to be down."""
        if not self._breaker.allow():
            return SpanExportResult.FAILURE
        try:
            result = self._exporter.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._breaker.success()
        else:
            self._breaker.failure()
        return result

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter (within `timeout_millis`)."""
        return self._exporter.force_flush(timeout_millis)
