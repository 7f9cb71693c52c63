"""wrk scripts and output parsing."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tools.bench.loadgen import Request
from tools.bench.wrk import MARKER, lua_script, parse_output, run_wrk, wrk_binary


def test_script_sets_method_headers_and_body() -> None:
    request = Request(
        "POST", "http://x/v1/check", {"Content-Type": "application/json"}, b'{"a":"b"}'
    )

    script = lua_script(request)

    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["Content-Type"] = "application/json"' in script
    assert 'wrk.body = "{\\"a\\":\\"b\\"}"' in script
    assert "function done(summary, latency, requests)" in script


def test_output_counts_non_2xx_and_socket_errors_apart() -> None:
    line = (
        f'{MARKER}{{"requests":1000,"duration_us":2000000,"bytes":5,"connect":1,"read":2,'
        '"write":0,"status":7,"timeout":3,"p50_us":1500,"p99_us":9000}'
    )

    result = parse_output(f"Running 2s test\n{line}\n")

    assert result.rps == 500
    assert result.non_2xx == 7
    assert result.socket_errors == 6
    assert result.closed_p99_ms == 9.0
    assert not result.clean


def test_output_without_the_result_line_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no result"):
        parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.skipif(wrk_binary() is None, reason="wrk is not installed")
async def test_wrk_sends_several_bodies_in_turn(aiohttp_server: Any, tmp_path: Path) -> None:
    seen: Counter[bytes] = Counter()

    async def record(request: web.Request) -> web.Response:
        seen[await request.read()] += 1
        return web.json_response({}, status=200 if len(seen) < 3 or seen[b"b"] % 2 else 503)

    app = web.Application()
    app.router.add_post("/", record)
    server = await aiohttp_server(app)
    bodies = (b"a", b"b", b"c")
    request = Request("POST", str(server.make_url("/")), bodies=bodies)

    result = await asyncio.to_thread(
        run_wrk, request, duration_s=1, connections=1, work_dir=tmp_path
    )

    assert set(seen) == set(bodies)
    assert max(seen.values()) - min(seen.values()) <= 1  # one connection: strictly in turn
    # The server may have read one request whose answer wrk stopped before counting.
    assert sum(seen.values()) - result.requests in (0, 1)
    assert 0 < result.ok < result.requests
    assert result.ok == result.requests - result.non_2xx
