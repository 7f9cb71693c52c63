"""HTTP handlers of notifications: one's list, newest first, and marking one read."""

from __future__ import annotations

from aiohttp import web

from nocturnal.api.domain.notifications import Notification
from nocturnal.api.keys import NOTIFICATIONS
from nocturnal.shared.auth.requests import authenticate
from nocturnal.shared.http.app import json_response
from nocturnal.shared.http.pagination import page_request, render_page


async def list_notifications(request: web.Request) -> web.Response:
    """The caller's notifications, newest first."""
    principal = await authenticate(request)
    notifications = await request.app[NOTIFICATIONS].page(principal.user_id, page_request(request))
    return json_response(render_page(notifications, Notification.to_json))


async def mark_read(request: web.Request) -> web.Response:
    """Mark one of the caller's notifications read."""
    principal = await authenticate(request)
    notification = await request.app[NOTIFICATIONS].mark_read(
        request.match_info["notification_id"], principal.user_id
    )
    return json_response(notification.to_json())
