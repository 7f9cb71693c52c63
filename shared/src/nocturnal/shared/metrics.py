"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["service", "route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request handling time in seconds",
    ["service", "route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATELIMIT_DEGRADED = Counter(
    "ratelimit_degraded_decisions_total",
    "Rate-limit decisions taken from the in-memory fallback because the store was unreachable",
    ["service", "policy"],
)

UPLOAD_RECONCILED = Counter(
    "upload_reconciled_total",
    "Storage reconciliation findings: incomplete uploads aborted, objects without metadata"
    " deleted, files whose object is missing (reported only)",
    ["action"],
)
UPLOAD_RECONCILE_RUNS = Counter(
    "upload_reconcile_runs_total", "Periodic storage reconciliation runs", ["outcome"]
)


async def metrics_handler(_: web.Request) -> web.Response:
    """GET /metrics in the Prometheus text exposition format."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
