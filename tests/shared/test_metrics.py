"""The metrics every service exposes: samplers run on each scrape (a failing one does not fail
it), the revocation list's size and the JWKS refreshes counted where they happen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from prometheus_client import REGISTRY, Gauge

from nocturnal.shared.auth.claims import TOKEN_HORIZON_S
from nocturnal.shared.auth.jwks import JwksCache
from nocturnal.shared.auth.revocation import RevocationList
from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app
from nocturnal.shared.metrics import METRICS_SAMPLERS

SAMPLED = Gauge("test_sampled_value", "A gauge a test's sampler sets")


async def test_samplers_run_on_each_scrape_and_a_failing_one_does_not_fail_it(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
) -> None:
    scrapes = 0

    async def broken() -> None:
        raise ConnectionError("the source is down")

    async def counting() -> None:
        nonlocal scrapes
        scrapes += 1
        SAMPLED.set(scrapes)

    app = create_service_app(ServiceSettings(NOCTURNAL_ENV="test"), service="metrics-test")
    app[METRICS_SAMPLERS].extend([broken, counting])
    client = await aiohttp_client(app)

    for expected in (1, 2):
        response = await client.get("/metrics")
        assert response.status == 200
        assert f"test_sampled_value {expected:.1f}" in await response.text()


def test_the_revocation_list_size_is_a_gauge_of_the_epochs_in_force() -> None:
    now = 1_800_000_000.0
    revocations = RevocationList(clock=lambda: now)
    revocations.revoke("u1", int(now))
    revocations.revoke("u2", int(now))
    revocations.revoke("u1", int(now) + 5)
    assert REGISTRY.get_sample_value("token_revocations") == 2

    now += TOKEN_HORIZON_S + 10
    revocations.revoke("u3", int(now))
    assert REGISTRY.get_sample_value("token_revocations") == 1


def refreshes(outcome: str) -> float:
    return REGISTRY.get_sample_value("jwks_refreshes_total", {"outcome": outcome}) or 0.0


async def test_jwks_refreshes_are_counted_by_outcome() -> None:
    available = True
    key = Ed25519PrivateKey.generate().public_key()

    async def fetch() -> dict[str, Ed25519PublicKey]:
        if not available:
            raise ConnectionError("auth is down")
        return {"k1": key}

    cache = JwksCache(fetch, min_refetch_s=0)
    ok, failed = refreshes("ok"), refreshes("failed")
    assert await cache.get("k1") is key
    available = False
    await cache.refresh(force=True)

    assert (refreshes("ok"), refreshes("failed")) == (ok + 1, failed + 1)
    assert await cache.get("k1") is key
