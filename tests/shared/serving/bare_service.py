"""A bare service, run as its own process by test_serve.py:
`python bare_service.py PORT DRAIN_S TIMEOUT_S`. `GET /slow?s=N` answers after N seconds."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app, json_response, run_service


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "0")))
    return json_response({"slept": True})


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
    run_service(app, settings)


if __name__ == "__main__":
    main(*sys.argv[1:])
