"""Every service on real servers, on an event loop of their own in a background thread, so that
synchronous callers (schemathesis, a generated client) can drive them over real HTTP.

auth runs as it is; api and upload verify tokens from a `KeyServer` (the test issuer), so each
role has a valid token; rate limits are raised so that a fuzzer is never throttled.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from token_issuer import KeyServer

from nocturnal.api.app import create_app as create_api
from nocturnal.api.settings import ApiSettings
from nocturnal.auth.app import create_app as create_auth
from nocturnal.auth.settings import AuthSettings
from nocturnal.ratelimit.app import create_app as create_ratelimit
from nocturnal.ratelimit.settings import RatelimitSettings
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, PolicyLimits
from nocturnal.upload.app import create_app as create_upload
from nocturnal.upload.settings import UploadSettings
from tools.devstack import free_ports

T = TypeVar("T")
ROLES = ("doctor", "nurse", "hospital_admin")
PASSWORD = "correct horse battery stable"
# As much as a policy may allow, per second: nothing a fuzzer sends is ever throttled.
UNTHROTTLED = PolicyLimits(window_s=1, normal=10_000, strict=10_000)
START_TIMEOUT_S = 120.0
AUTH_TOKEN_REUSE_S = 10 * 60
"""An auth access token lives 15 minutes: a longer run signs in again after 10."""


@dataclass(frozen=True)
class Servers:
    """Where the backing servers are, and the names this platform's data goes under."""

    mongo_url: str
    redis_url: str
    amqp_url: str
    events_exchange: str
    storage_dir: Path
    databases: dict[str, str] = field(
        default_factory=lambda: {
            service: f"test_contracts_{service}_{uuid.uuid4().hex[:8]}"
            for service in ("auth", "api", "upload")
        }
    )


@dataclass
class Member:
    """A registered user of one role: their auth account and the tokens the services take."""

    role: str
    email: str
    user_id: str = ""
    access_token: str = ""
    signed_in_at: float = 0.0


class Platform:
    """auth, api, upload and ratelimit on free local ports (`urls`), started by `start()` and
    stopped by `stop()`; `token(role)` is a valid access token for api and upload,
    `auth_token()` one for auth (signed by auth itself)."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.urls: dict[str, str] = {}
        self.members = {
            role: Member(role, f"{role}-{uuid.uuid4().hex[:10]}@example.org") for role in ROLES
        }
        self.key_server = KeyServer()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="platform", daemon=True)
        self._stack = contextlib.AsyncExitStack()
        self._lock = threading.Lock()

    def start(self) -> Platform:
        """Start every service and register one member per role; returns self."""
        self._thread.start()
        self.run(self._start(), timeout=START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        """Stop every service and the loop (idempotent)."""
        if not self._thread.is_alive():
            return
        self.run(self._stack.aclose(), timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def run(self, work: Awaitable[T], *, timeout: float = 60.0) -> T:
        """Run `work` on the platform's loop; its result."""
        return asyncio.run_coroutine_threadsafe(_awaited(work), self._loop).result(timeout)

    def token(self, role: str) -> str:
        """An access token for api and upload of the member with `role`."""
        member = self.members[role]
        return self.key_server.token(member.user_id, role)

    def auth_token(self, role: str = "doctor") -> str:
        """An access token auth itself signed for the member with `role` (signing in again once
        it is 10 minutes old)."""
        member = self.members[role]
        with self._lock:
            if time.monotonic() - member.signed_in_at > AUTH_TOKEN_REUSE_S:
                self.run(self._sign_in(member))
            return member.access_token

    async def _start(self) -> None:
        stack = self._stack
        await stack.enter_async_context(self.key_server.serve())
        servers = self.servers
        ratelimit = RatelimitSettings(
            redis_url=servers.redis_url,
            amqp_url=servers.amqp_url,
            events_exchange=servers.events_exchange,
            instance_name="ratelimit-contracts",
            ratelimit_policies={name: UNTHROTTLED for name in DEFAULT_POLICIES},
        )
        self.urls["ratelimit"] = await self._serve(create_ratelimit(ratelimit))
        peers = {
            "mongo_url": servers.mongo_url,
            "amqp_url": servers.amqp_url,
            "events_exchange": servers.events_exchange,
            "ratelimit_url": self.urls["ratelimit"],
            "ratelimit_timeout_s": 2.0,
            "ratelimit_hedge_floor_s": 2.0,
        }
        # The upload service signs URLs of its own downloads: it must know its address first.
        upload_port = free_ports(1)[0]
        self.urls["upload"] = f"http://127.0.0.1:{upload_port}"
        upload = UploadSettings(
            **peers,
            NOCTURNAL_ENV="test",
            instance_name="upload-contracts",
            mongo_database=servers.databases["upload"],
            auth_url=self.key_server.base_url,
            public_base_url=self.urls["upload"],
            storage_backend="local",
            storage_local_dir=servers.storage_dir,
        )
        await self._serve(create_upload(upload), port=upload_port)
        api = ApiSettings(
            **peers,
            instance_name="api-contracts",
            mongo_database=servers.databases["api"],
            auth_url=self.key_server.base_url,
            upload_url=self.urls["upload"],
        )
        self.urls["api"] = await self._serve(create_api(api))
        auth = AuthSettings(
            **peers,
            instance_name="auth-contracts",
            mongo_database=servers.databases["auth"],
        )
        self.urls["auth"] = await self._serve(create_auth(auth))
        for member in self.members.values():
            await self._register(member)

    async def _serve(self, app: web.Application, *, port: int = 0) -> str:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        host, bound = runner.addresses[0][:2]
        return f"http://{host}:{bound}"

    async def _register(self, member: Member) -> None:
        body = {
            "email": member.email,
            "password": PASSWORD,
            "name": "Night Shift",
            "role": member.role,
        }
        grant = await self._post_auth("/api/auth/register", body, expect=201)
        member.user_id = grant["user"]["id"]
        member.access_token = grant["access_token"]
        member.signed_in_at = time.monotonic()
        await self._profile_exists(member)

    async def _sign_in(self, member: Member) -> None:
        body = {"email": member.email, "password": PASSWORD}
        grant = await self._post_auth("/api/auth/login", body, expect=200)
        member.access_token = grant["access_token"]
        member.signed_in_at = time.monotonic()

    async def _post_auth(self, path: str, body: dict[str, Any], *, expect: int) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.urls["auth"] + path, json=body) as response,
        ):
            assert response.status == expect, await response.text()
            return await response.json()

    async def _profile_exists(self, member: Member) -> None:
        # api makes the profile from auth's `user.registered`: wait for it, so that every
        # profile route has something to show.
        headers = {"Authorization": f"Bearer {self.token(member.role)}"}
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession(headers=headers) as session:
            while time.monotonic() < deadline:
                async with session.get(self.urls["api"] + "/api/profiles/me") as response:
                    if response.status == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"api made no profile for the {member.role}")


async def _awaited(work: Awaitable[T]) -> T:
    return await work


@contextlib.contextmanager
def running(servers: Servers) -> Iterator[Platform]:
    """A started platform, stopped afterwards."""
    platform = Platform(servers)
    try:
        yield platform.start()
    finally:
        platform.stop()
