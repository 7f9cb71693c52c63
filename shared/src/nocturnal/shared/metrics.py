"""Prometheus metrics shared by every service (one registry per process): the one place every
metric is declared. docs/metrics.md is the operators' table of them; deploy/prometheus holds the
alerting rules built on them.

Most metrics are updated where the thing happens. Those that are a state read from elsewhere
(the outbox's backlog, a dead-letter queue's depth) are sampled when Prometheus scrapes: an app
lists its samplers under `app[METRICS_SAMPLERS]` and `GET /metrics` runs them first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import lru_cache

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from nocturnal.shared.logging import get_logger

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
RATELIMIT_HEDGED = Counter(
    "ratelimit_hedged_decisions_total",
    "Rate-limit decisions taken from the in-memory fallback because the ratelimit service was "
    "slower than the hedge deadline (its breaker still closed)",
    ["service", "policy"],
)
RATELIMIT_HEDGE_DEADLINE = Gauge(
    "ratelimit_hedge_deadline_seconds",
    "How long a rate-limit check waits for the ratelimit service before deciding locally "
    "(SRTT + 4 RTTVAR of its answers, RFC 6298, within the floor and the timeout)",
    ["service"],
)
OUTBOX_PENDING = Gauge(
    "outbox_pending_entries", "Outbox entries not yet published (sampled)", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox entry in seconds, 0 when none (sampled)",
    ["service"],
)
MONGO_ABANDONED_TRANSACTIONS = Counter(
    "mongo_abandoned_transactions_total",
    "Transactions a database outage ended on the client's side only, by outcome: aborted on "
    "the server (killSessions) once it answered, or expired (left to the server's reaping)",
    ["outcome"],
)
MONGO_COMMIT_OUTCOME_CHECKS = Counter(
    "mongo_commit_outcome_checks_total",
    "Commits whose answer the time limit cut off, asked again: stored, not_stored (the server "
    "no longer had the transaction) or unknown (no answer within the grace: the client got a "
    "503 saying the change may have been stored)",
    ["outcome"],
)
EVENTS_CONSUMER_ATTACHED = Gauge(
    "events_consumer_attached",
    "1 while the broker delivers to this process's consumer of the queue, else 0 (sampled)",
    ["service", "queue"],
)
EVENTS_DEAD_LETTER_DEPTH = Gauge(
    "events_dead_letter_messages",
    "Messages waiting in the service's dead-letter queue (sampled)",
    ["service", "queue"],
)
EVENTS_DEAD_LETTERED = Counter(
    "events_dead_lettered_total",
    "Messages a consumer gave up on and dead-lettered, by queue and reason",
    ["queue", "reason"],
)
TOKEN_REVOCATIONS = Gauge(
    "token_revocations",
    "Users whose revocation epoch is still in force in this verifier's revocation list",
)
JWKS_REFRESHES = Counter(
    "jwks_refreshes_total",
    "JWKS fetches by this verifier (an unknown kid, or a stale set), by outcome ok|failed",
    ["outcome"],
)
UPLOAD_BYTES_IN_FLIGHT = Gauge(
    "upload_bytes_in_flight",
    "Bytes received by uploads still in progress (not yet stored, refused or failed)",
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
GC_PAUSES = Histogram(
    "python_gc_pause_seconds",
    "Pauses of CPython's cyclic garbage collector in seconds, by generation collected "
    "(0, 1, 2: a full collection); every request of the process waits while one runs",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)

MetricsSampler = Callable[[], Awaitable[None]]
"""Updates some metrics from their source; run on every scrape, within `SAMPLE_TIMEOUT_S`."""
METRICS_SAMPLERS = web.AppKey("metrics_samplers", list[MetricsSampler])
SAMPLE_TIMEOUT_S = 2.0

log = get_logger("metrics")


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


async def metrics_handler(request: web.Request) -> web.Response:
    """GET /metrics in the Prometheus text exposition format, after running the app's samplers.

    A sampler that fails or times out is logged and leaves its metrics as they were: the
    scrape still succeeds.
    """
    for sample in request.app.get(METRICS_SAMPLERS, ()):
        try:
            async with asyncio.timeout(SAMPLE_TIMEOUT_S):
                await sample()
        except Exception as exc:  # a source being down must not fail the whole scrape
            log.warning("metrics sample failed", error=repr(exc))
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
