"""The bare baseline: an aiohttp + uvloop server with one hello route and nothing else.

It is what the same framework serves on this machine when a route does no work: P2 and P3 are
ratios against it. Run as ``python -m tools.bench.bare PORT`` (127.0.0.1).
"""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web

HELLO = b'{"status":"ok"}'


async def hello(_: web.Request) -> web.Response:
    """GET /hello: a fixed small JSON body."""
    return web.Response(body=HELLO, content_type="application/json")


def create_app() -> web.Application:
    """The bare application: GET /hello only, no middleware."""
    app = web.Application()
    app.router.add_get("/hello", hello)
    return app


def main(argv: list[str]) -> int:
    """Serve on 127.0.0.1:argv[0] until killed."""
    web.run_app(
        create_app(), host="127.0.0.1", port=int(argv[0]), loop=uvloop.new_event_loop(), print=None
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
