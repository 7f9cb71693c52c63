"""The open-loop generator: requests leave at their due times and latency counts from then."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tools.bench.loadgen import OpenLoopJob, Request, run_open_loop

Server = Callable[[web.Application], Awaitable[Any]]
STALL_S = 0.5


def _stalling_app() -> web.Application:
    """The first request stalls for STALL_S; every other one answers at once."""
    seen = {"count": 0}

    async def handler(_: web.Request) -> web.Response:
        seen["count"] += 1
        if seen["count"] == 1:
            await asyncio.sleep(STALL_S)
        return web.json_response({"ok": True})

    async def busy(_: web.Request) -> web.Response:
        return web.json_response({"busy": True}, status=503, headers={"Retry-After": "1"})

    app = web.Application()
    app.router.add_get("/", handler)
    app.router.add_get("/busy", busy)
    return app


async def test_requests_queued_behind_a_stall_count_the_wait(aiohttp_server: Server) -> None:
    server = await aiohttp_server(_stalling_app())
    # 40 requests over one second on one connection: those due during the stall wait for it.
    job = OpenLoopJob(
        Request("GET", str(server.make_url("/"))),
        rate=40,
        duration_s=1.0,
        warmup_s=0,
        connections=1,
    )

    report = await asyncio.to_thread(run_open_loop, job)

    assert report.answered == 40
    assert report.statuses == {"200": 40}
    # A closed loop would not have sent them until the stall ended and would report ~1 ms;
    # counted from their due time, the 10 % slowest waited most of the stall.
    assert report.latency_ms["p90"] >= 300
    assert report.latency_ms["max"] >= STALL_S * 1000 * 0.9


async def test_statuses_and_the_watched_header_are_counted(aiohttp_server: Server) -> None:
    server = await aiohttp_server(_stalling_app())
    job = OpenLoopJob(
        Request("GET", str(server.make_url("/busy"))), rate=20, duration_s=0.5, warmup_s=0
    )

    report = await asyncio.to_thread(run_open_loop, job)

    assert report.statuses == {"503": 10}
    assert report.with_header == {"503": 10}
    assert report.ok == 0


async def test_several_bodies_are_sent_in_turn(aiohttp_server: Server) -> None:
    seen: list[bytes] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(await request.read())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/", record)
    server = await aiohttp_server(app)
    bodies = (b'{"n":1}', b'{"n":2}', b'{"n":3}')
    job = OpenLoopJob(
        Request("POST", str(server.make_url("/")), bodies=bodies),
        rate=30,
        duration_s=0.3,
        warmup_s=0,
    )

    report = await asyncio.to_thread(run_open_loop, job)

    assert report.statuses == {"200": 9}
    assert sorted(seen) == sorted(bodies * 3)
