"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=4096)
def _request_series(
    service: str, route: str, method: str, status: int
) -> tuple[Counter, Histogram]:
    # Looking a labelled series up takes a lock and a tuple of strings per call; the series
    # of one label set never changes, so each is looked up once. The key space is bounded by
    # the routes (an unknown path is labelled "unmatched"), methods and statuses.
    return (
        HTTP_REQUESTS.labels(service, route, method, str(status)),
        HTTP_DURATION.labels(service, route, method),
    )


def count_request(service: str, route: str, method: str, status: int, seconds: float) -> None:
    """Count one served request in `http_requests_total` and observe its handling time
    (`seconds`) in `http_request_duration_seconds`."""
    requests, duration = _request_series(service, route, method, status)
    requests.inc()
    duration.observe(seconds)


async def metrics_handler(_: web.Request) -> web.Response:
    """GET /metrics in the Prometheus text exposition format."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
