"""GET /api/health: the public liveness answer, naming the instance that served it."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field
from typing_extensions import TypedDict

from nocturnal.shared.http.app import SERVICE, SETTINGS, json_response


class HealthView(TypedDict):
    """The api answers; `instance` names the pod or host that served the request."""

    status: Literal["ok"]
    service: str
    instance: Annotated[str, Field(description="the pod or host name: shows the load spread")]
    version: str


async def api_health(request: web.Request) -> web.Response:
    """The api answers, naming the instance that served the request (not rate limited)."""
    settings = request.app[SETTINGS]
    body: HealthView = {
        "status": "ok",
        "service": request.app[SERVICE],
        "instance": settings.instance_name,
        "version": settings.version,
    }
    return json_response(body)
