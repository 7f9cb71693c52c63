"""Types shared by the ratelimit tests."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.test_utils import TestClient

from nocturnal.ratelimit.settings import RatelimitSettings

Client = TestClient[web.Request, web.Application]
SettingsFactory = Callable[..., RatelimitSettings]
