"""The `api` rate-limit policy on every /api/ route but /api/health, through the real
ratelimit service (100 requests per 10 minutes per address and user)."""

from __future__ import annotations

import asyncio
import socket

from aiohttp.test_utils import TestClient
from token_issuer import KeyServer

from api.conftest import ApiClientFactory
from api.support import Caller, CallerFactory, new_ip, problem

API_LIMIT = 100


async def test_responses_carry_ratelimit_headers_but_health_does_not(
    caller: CallerFactory, client: TestClient
) -> None:
    resp = await caller("nurse").get("/api/duties")
    assert resp.status == 200
    assert resp.headers["RateLimit-Policy"] == '"api";q=100;w=600'
    assert resp.headers["RateLimit"].startswith('"api";r=99;')
    health = await client.get("/api/health")
    assert "RateLimit" not in health.headers


async def test_the_101st_request_is_429_with_retry_after(caller: CallerFactory) -> None:
    nurse = caller("nurse")
    for _ in range(API_LIMIT // 10):
        replies = await asyncio.gather(*(nurse.get("/api/duties/nope") for _ in range(10)))
        assert {r.status for r in replies} == {404}
    resp = await nurse.get("/api/duties")
    body = await problem(resp, 429)
    assert int(resp.headers["Retry-After"]) >= 1
    assert "api" in body["detail"]
    other = caller("nurse")  # another user is counted apart
    other.ip = nurse.ip
    assert (await other.get("/api/duties")).status == 200


async def test_errors_and_bad_tokens_are_counted_too(client: TestClient) -> None:
    ip = new_ip()
    for _ in range(3):
        resp = await client.get(
            "/api/profiles/me", headers={"Authorization": "Bearer x", "X-Real-IP": ip}
        )
        await problem(resp, 401)
    assert resp.headers["RateLimit"].startswith('"api";r=97;')


async def test_health_is_never_limited(client: TestClient) -> None:
    ip = new_ip()
    for _ in range(API_LIMIT // 10 + 1):
        replies = await asyncio.gather(
            *(client.get("/api/health", headers={"X-Real-IP": ip}) for _ in range(10))
        )
        assert {r.status for r in replies} == {200}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_requests_are_served_from_the_local_fallback_when_ratelimit_is_down(
    api_client: ApiClientFactory, key_server: KeyServer
) -> None:
    client = await api_client(ratelimit_url=f"http://127.0.0.1:{closed_port()}")
    nurse = Caller(client, key_server, "nurse")
    resp = await nurse.get("/api/duties")
    assert resp.status == 200
    assert resp.headers["RateLimit"].startswith('"api";r=99;')
