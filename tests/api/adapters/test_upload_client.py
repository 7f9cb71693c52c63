"""UploadClient against real HTTP: a signed URL, or None (and a warning) on any failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nocturnal.api.adapters.upload import UploadClient
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
        client = UploadClient(session, upload_url, expires_in_s=600)
        assert await client.signed_url("f1") == "https://s3.example/f1?ttl=600"


@pytest.mark.parametrize("file_id", ["missing", "slow", "garbled", "no-url"])
async def test_failures_give_none(upload_url: str, file_id: str) -> None:
    async with peer_session(0.3) as session:
        client = UploadClient(session, upload_url, expires_in_s=600)
        assert await client.signed_url(file_id) is None


async def test_an_unreachable_upload_service_gives_none() -> None:
    async with peer_session(0.3) as session:
        client = UploadClient(session, "http://127.0.0.1:9", expires_in_s=600)
        assert await client.signed_url("f1") is None
