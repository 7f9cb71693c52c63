"""Fixtures for the auth tests: a real ratelimit service, scratch databases, app factories."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pymongo.asynchronous.database import AsyncDatabase

from auth.support import AuthClientFactory, new_ip
from nocturnal.auth.app import create_app
from nocturnal.auth.settings import AuthSettings


@pytest.fixture
def auth_settings(
    mongo_url: str, amqp_url: str, ratelimit_url: str, events_exchange: str, database_name: str
) -> Callable[..., AuthSettings]:
    """`auth_settings(**overrides)`: settings for an auth app on the test's database."""

    def make(**overrides: Any) -> AuthSettings:
        values: dict[str, Any] = {
            "mongo_url": mongo_url,
            "mongo_database": database_name,
            "amqp_url": amqp_url,
            "events_exchange": events_exchange,
            "ratelimit_url": ratelimit_url,
            # Generous: a slow CI machine must not fall back to per-process counting.
            "ratelimit_timeout_s": 2.0,
            # Exact limits are asserted: every check waits for the service (no hedging).
            "ratelimit_hedge_floor_s": 2.0,
            "instance_name": f"auth-test-{uuid.uuid4().hex[:6]}",
            **overrides,
        }
        return AuthSettings(**values)

    return make


@pytest.fixture
async def auth_client(
    auth_settings: Callable[..., AuthSettings], db: AsyncDatabase[Any]
) -> AsyncIterator[AuthClientFactory]:
    """`await auth_client(**setting_overrides)`: a client of a started auth app.

    Each client speaks from an address of its own: rate-limit counters outlive test runs.
    """
    clients: list[TestClient] = []

    async def make(**overrides: Any) -> TestClient:
        server = TestServer(create_app(auth_settings(**overrides)))
        client = TestClient(server, headers={"X-Real-IP": new_ip()})
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(auth_client: AuthClientFactory) -> TestClient:
    """A client of an auth app with default settings on the test's database."""
    return await auth_client()
