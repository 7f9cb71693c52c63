"""A bare service, run as its own process by test_serve.py:
`python bare_service.py PORT DRAIN_S TIMEOUT_S`. `GET /slow?s=N` answers after N seconds;
`POST /gc` runs a full garbage collection and answers the objects frozen and still tracked."""

from __future__ import annotations

import asyncio
import gc
import sys

from aiohttp import web

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app, json_response, run_service


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "0")))
    return json_response({"slept": True})


async def collect(request: web.Request) -> web.Response:
    gc.collect(2)
    return json_response({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())})


def main(port: str, drain_s: str, timeout_s: str) -> None:
    settings = ServiceSettings(
        host="127.0.0.1",
        port=int(port),
        instance_name="bare",
        shutdown_drain_s=float(drain_s),
        shutdown_timeout_s=float(timeout_s),
    )
    app = create_service_app(settings, service="bare")
    app.router.add_get("/slow", slow)
    app.router.add_post("/gc", collect)
    run_service(app, settings)


if __name__ == "__main__":
    main(*sys.argv[1:])
