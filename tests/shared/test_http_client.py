"""The peer session: the request id travels with every call, JSON bodies as before."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from nocturnal.shared.http.client import peer_session
from nocturnal.shared.logging import bind_context


async def echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "request_id": request.headers.get("X-Request-ID"),
            "body": await request.json() if request.can_read_body else None,
        }
    )


async def _call(url: str, **kwargs: Any) -> dict[str, Any]:
    async with peer_session(2.0) as session, session.post(url, **kwargs) as response:
        answer: dict[str, Any] = await response.json()
        return answer


async def test_calls_carry_the_request_id_of_their_task() -> None:
    app = web.Application()
    app.router.add_post("/echo", echo)
    async with TestServer(app) as server:
        url = str(server.make_url("/echo"))

        async def as_request(request_id: str | None) -> dict[str, Any]:
            structlog.contextvars.clear_contextvars()
            if request_id:
                bind_context(request_id=request_id)
            await asyncio.sleep(0)  # interleave the tasks: each keeps its own context
            return await _call(url, json={"n": request_id, "at": "Zoë"})

        first, second, none = await asyncio.gather(
            as_request("r-1"), as_request("r-2"), as_request(None)
        )
        own = await _call(url, headers={"X-Request-ID": "given"})
    assert first["request_id"] == "r-1"
    assert first["body"] == {"n": "r-1", "at": "Zoë"}
    assert second["request_id"] == "r-2"
    assert none["request_id"] is None
    assert own["request_id"] == "given"
