"""Helpers for driving the api app in tests: tokens, callers, peers, payloads, waiting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from polling import eventually
from token_issuer import KeyServer


class UploadStandIn:
    """upload's internal `POST /v1/files/{file_id}/signed-url`: 200 for known files, else 404."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.delay_s = 0.0
        self.base_url = ""

    async def signed_url(self, request: web.Request) -> web.Response:
        """The signed-URL endpoint, after `delay_s` seconds."""
        await asyncio.sleep(self.delay_s)
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            return web.json_response({"title": "Not Found"}, status=404)
        body = await request.json()
        expires_at = datetime.now(UTC) + timedelta(seconds=body["expires_in"])
        return web.json_response(
            {"url": f"https://files.example/{file_id}?sig=x", "expires_at": expires_at.isoformat()}
        )

    @staticmethod
    def url_of(file_id: str) -> str:
        """The URL it signs for `file_id`."""
        return f"https://files.example/{file_id}?sig=x"


def new_ip() -> str:
    """A client address no other test uses (rate limits count per address)."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


class Caller:
    """One signed-in user calling the api app from an address of the test's own."""

    def __init__(self, client: TestClient, keys: KeyServer, role: str) -> None:
        self.client = client
        self.role = role
        self.user_id = uuid.uuid4().hex
        self.token = keys.token(self.user_id, role)
        self.ip = new_ip()

    @property
    def headers(self) -> dict[str, str]:
        """Authorization and the gateway's client-address header."""
        return {"Authorization": f"Bearer {self.token}", "X-Real-IP": self.ip}

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.client.get(path, headers=self.headers, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ClientResponse:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.post(path, headers=headers, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> ClientResponse:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.patch(path, headers=headers, **kwargs)

    async def json(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """Call and assert `status`; the JSON body."""
        resp = await getattr(self, method.lower())(path, **kwargs)
        assert resp.status == status, await resp.text()
        return await resp.json()


CallerFactory = Callable[[str], Caller]


def duty_payload(**overrides: Any) -> dict[str, Any]:
    """A valid POST /api/duties body a week from now; `overrides` replace fields."""
    body: dict[str, Any] = {
        "title": "Overnight ICU Registrar",
        "hospital_name": "St Mary's General Hospital",
        "department": "Intensive Care Unit",
        "specialty": "Critical Care",
        "description": "Handover at 21:45.",
        "date": (date.today() + timedelta(days=7)).isoformat(),
        "start_time": "22:00",
        "end_time": "06:00",
        "hourly_rate": 95.5,
        "positions_needed": 2,
        "urgency": "URGENT",
        "location": "London",
        "requirements": {"minimum_experience": 3, "required_skills": ["ventilator management"]},
    }
    body.update(overrides)
    return body


async def problem(resp: ClientResponse, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem of `status`; its body."""
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = await resp.json(content_type=None)
    assert body["status"] == status
    assert body["request_id"] == resp.headers["X-Request-ID"]
    if status == 401:  # RFC 9110 §15.5.2: every 401 carries a challenge
        assert resp.headers["WWW-Authenticate"].startswith("Bearer "), resp.headers
    return body


async def register(publish: Callable[..., Awaitable[Any]], user: Caller, name: str) -> None:
    """Publish `user.registered` for `user` and wait for api to create the profile."""
    await publish(
        "user.registered",
        {
            "user_id": user.user_id,
            "email": f"{user.user_id}@example.org",
            "name": name,
            "role": user.role,
        },
    )

    async def created() -> bool:
        return (await user.get("/api/profiles/me")).status == 200

    await eventually(created, f"the profile of {name}")
