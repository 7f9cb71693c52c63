"""A request aiohttp's HTTP parser refuses (found by a fresh-user trial: a control character in a
header value) is one line at info in a real service process's log, in both log formats, not an
ERROR with a traceback and the raw request bytes; a genuine server error keeps its traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import aiohttp
import pytest

from tools.devstack import free_ports

PROGRAM = """
import logging
from aiohttp import web
from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app, json_response, serve

async def boom(request):
    try:
        raise RuntimeError("a genuine fault")
    except RuntimeError:  # as aiohttp logs an error it cannot answer otherwise
        logging.getLogger("aiohttp.server").exception("Error handling request from %s", "x")
    return json_response({})

def create(settings):
    app = create_service_app(settings, service="bare")
    app.router.add_get("/boom", boom)
    return app

serve("bare", ServiceSettings, create)
"""
BAD_HEADER = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"
REFUSED = "refused a malformed request from 127.0.0.1"


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    return answer


async def service_log(fmt: str, level: str) -> str:
    """Run a service, send it three refused requests and one genuine error; its output."""
    port = free_ports(1)[0]
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "INSTANCE_NAME": "bare-1",
        "LOG_FORMAT": fmt,
        "LOG_LEVEL": level,
        "SHUTDOWN_DRAIN_S": "0",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROGRAM, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while True:
                assert proc.returncode is None and time.monotonic() < deadline, (
                    "service did not start"
                )
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health/live") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            for _ in range(3):
                assert b" 400 Bad Request\r\n" in await raw_request(port, BAD_HEADER)
            async with session.get(f"http://127.0.0.1:{port}/boom") as resp:
                assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return out.decode(errors="replace")


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_a_refused_request_is_one_info_line_and_a_genuine_error_keeps_its_traceback(
    fmt: str,
) -> None:
    log = await service_log(fmt, "INFO")
    refused = [line for line in log.splitlines() if REFUSED in line]
    assert len(refused) == 3, log
    assert "\x01" not in log and "X-A" not in log  # none of the request's bytes
    assert "Error handling request from 127.0.0.1" not in log
    assert log.count("RuntimeError: a genuine fault") == 1, log  # its traceback is kept
    if fmt == "json":
        for line in refused:
            record = json.loads(line)
            assert record["level"] == "info"
            assert "exception" not in record
        [fault] = [json.loads(line) for line in log.splitlines() if "a genuine fault" in line]
        assert fault["level"] == "error"
        assert "Traceback" in fault["exception"]
    else:
        assert all("info" in line for line in refused)


async def test_a_refused_request_is_not_logged_above_info() -> None:
    log = await service_log("json", "WARNING")
    assert REFUSED not in log
    assert "Error handling request from 127.0.0.1" not in log
