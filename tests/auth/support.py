"""Helpers for driving the auth app in tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from nocturnal.shared.auth.claims import AUDIENCE, ISSUER

PASSWORD = "correct horse battery stable"

AuthClientFactory = Callable[..., Awaitable[TestClient]]


def new_email() -> str:
    """An address no other test uses."""
    return f"user-{uuid.uuid4().hex[:10]}@example.org"


def new_ip() -> str:
    """A client address no other test uses (rate limits count per address)."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def bearer(body: dict[str, Any]) -> dict[str, str]:
    """The Authorization header for a token response."""
    return {"Authorization": f"Bearer {body['access_token']}"}


async def register(client: TestClient, **fields: Any) -> dict[str, Any]:
    """Register a fresh account (overriding `fields`); the 201 body."""
    body = {"email": new_email(), "password": PASSWORD, "name": "Dr. Night", "role": "doctor"}
    body.update(fields)
    resp = await client.post("/api/auth/register", json=body, headers={"X-Real-IP": new_ip()})
    assert resp.status == 201, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def login(
    client: TestClient, email: str, password: str = PASSWORD, ip: str | None = None
) -> ClientResponse:
    """POST /api/auth/login from `ip` (a fresh one by default)."""
    headers = {"X-Real-IP": ip or new_ip()}
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def problem(resp: ClientResponse, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem of `status`; its body."""
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = await resp.json(content_type=None)
    assert body["status"] == status
    if status == 401:  # RFC 9110 §15.5.2: every 401 carries a challenge
        assert resp.headers["WWW-Authenticate"].startswith("Bearer "), resp.headers
    return body


def claims(user_id: str, **changes: Any) -> dict[str, Any]:
    """Valid access-token claims of `user_id`, issued now, with `changes` (None drops a claim)."""
    now = int(time.time())
    values = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "role": "doctor",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}
