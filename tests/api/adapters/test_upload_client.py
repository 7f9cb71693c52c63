"""UploadClient against real HTTP: a signed URL, or None (and a warning) on any failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nocturnal.api.adapters.upload import UploadClient
from nocturnal.shared.breaker import CircuitBreaker
from nocturnal.shared.http.client import peer_session


async def signed_url(request: web.Request) -> web.Response:
    file_id = request.match_info["file_id"]
    body = await request.json()
    if file_id == "slow":
        await asyncio.sleep(1)
    if file_id == "garbled":
        return web.Response(text="<html>", content_type="text/html")
    if file_id == "no-url":
        return web.json_response({"expires_at": "2026-12-01T00:00:00Z"})
    if file_id != "f1":
        return web.json_response({"status": 404}, status=404)
    return web.json_response({"url": f"https://s3.example/f1?ttl={body['expires_in']}"})


@pytest.fixture
async def upload_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/files/{file_id}/signed-url", signed_url)
    async with TestServer(app) as server:
        yield str(server.make_url("")).rstrip("/")


async def test_a_known_file_gets_a_signed_url_for_the_configured_time(upload_url: str) -> None:
    async with peer_session(0.5) as session:
        client = UploadClient(
            session, upload_url, expires_in_s=600, breaker=CircuitBreaker("upload")
        )
        assert await client.signed_url("f1") == "https://s3.example/f1?ttl=600"


@pytest.mark.parametrize("file_id", ["missing", "slow", "garbled", "no-url"])
async def test_failures_give_none(upload_url: str, file_id: str) -> None:
    async with peer_session(0.3) as session:
        client = UploadClient(
            session, upload_url, expires_in_s=600, breaker=CircuitBreaker("upload")
        )
        assert await client.signed_url(file_id) is None


async def test_an_unreachable_upload_service_gives_none() -> None:
    async with peer_session(0.3) as session:
        client = UploadClient(
            session, "http://127.0.0.1:9", expires_in_s=600, breaker=CircuitBreaker("upload")
        )
        assert await client.signed_url("f1") is None


async def test_a_hanging_upload_service_costs_three_timeouts_then_none_at_once() -> None:
    # Issue 10: a hanging peer must not cost every request its timeout. Counted in requests
    # the peer sees, not in seconds: after three timeouts the breaker opens and no call goes out
    # until the half-open probe, whose success closes it again.
    seen: list[str] = []
    hanging = True

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.match_info["file_id"])
        if hanging:
            await asyncio.sleep(5)
        return web.json_response({"url": "https://s3.example/f1"})

    app = web.Application()
    app.router.add_post("/v1/files/{file_id}/signed-url", answer)
    now = [0.0]
    breaker = CircuitBreaker("upload", failure_threshold=3, open_s=2.0, clock=lambda: now[0])
    async with TestServer(app) as server, peer_session(0.2) as session:
        client = UploadClient(
            session, str(server.make_url("")).rstrip("/"), expires_in_s=600, breaker=breaker
        )
        for _ in range(3):
            assert await client.signed_url("f1") is None
        assert len(seen) == 3
        for _ in range(20):
            assert await client.signed_url("f1") is None
        assert len(seen) == 3  # open: nothing sent

        hanging = False
        now[0] += 2.0  # the open interval passed: the next call is the probe
        assert await client.signed_url("f1") == "https://s3.example/f1"
        assert await client.signed_url("f1") == "https://s3.example/f1"
        assert len(seen) == 5
        assert breaker.state == "closed"


async def test_a_file_that_is_gone_does_not_open_the_breaker(upload_url: str) -> None:
    breaker = CircuitBreaker("upload", failure_threshold=1)
    async with peer_session(0.5) as session:
        client = UploadClient(session, upload_url, expires_in_s=600, breaker=breaker)
        assert await client.signed_url("missing") is None  # 404: an answer
        assert await client.signed_url("f1") == "https://s3.example/f1?ttl=600"
