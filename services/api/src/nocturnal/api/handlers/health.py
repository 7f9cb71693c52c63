"""GET /api/health: the public liveness answer, naming the instance that served it."""

from __future__ import annotations

from aiohttp import web

from nocturnal.shared.http.app import SERVICE, SETTINGS, json_response


async def api_health(request: web.Request) -> web.Response:
    """GET /api/health: 200 {status, service, instance, version} (not rate limited)."""
    settings = request.app[SETTINGS]
    return json_response(
        {
            "status": "ok",
            "service": request.app[SERVICE],
            "instance": settings.instance_name,
            "version": settings.version,
        }
    )
