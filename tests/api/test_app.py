"""The api app as a whole: public health, readiness of its dependencies."""

from __future__ import annotations

from aiohttp.test_utils import TestClient


async def test_api_health_names_service_and_instance(client: TestClient) -> None:
    resp = await client.get("/api/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["service"] == "api"
    assert body["instance"].startswith("api-test-")
    assert body["version"]
    assert "RateLimit" not in resp.headers


async def test_readiness_covers_mongodb_and_the_event_bus(client: TestClient) -> None:
    resp = await client.get("/health/ready")
    assert resp.status == 200
    assert (await resp.json())["checks"] == {
        "mongodb": "ok",
        "ratelimit": "ok",
        "rabbitmq": "ok",
        "auth": "ok",  # the peer breakers, reported (issue 10)
        "upload": "ok",
    }
