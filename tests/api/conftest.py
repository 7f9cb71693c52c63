"""Fixtures of the api tests: real MongoDB, RabbitMQ and ratelimit; JWKS and upload peers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pymongo.asynchronous.database import AsyncDatabase
from token_issuer import KeyServer

from api.support import Caller, CallerFactory, UploadStandIn
from nocturnal.api.app import create_app
from nocturnal.api.settings import ApiSettings
from nocturnal.shared.events import (
    CloudEvent,
    EventPublisher,
    ExchangeSpec,
    new_event,
)
from tools.devstack import delete_event_topology, new_exchange_name

Publish = Callable[..., Awaitable[CloudEvent]]
ApiClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture(scope="session")
async def key_server() -> AsyncIterator[KeyServer]:
    """auth's JWKS over real HTTP; `key_server.token(user_id, role)` signs access tokens."""
    async with KeyServer().serve() as server:
        yield server


@pytest.fixture(scope="session")
async def upload_peer() -> AsyncIterator[UploadStandIn]:
    """upload's internal signed-URL endpoint over real HTTP."""
    peer = UploadStandIn()
    app = web.Application()
    app.router.add_post("/v1/files/{file_id}/signed-url", peer.signed_url)
    async with TestServer(app) as http:
        peer.base_url = str(http.make_url("")).rstrip("/")
        yield peer


@pytest.fixture(scope="session")
async def amqp(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    """A connection to the test RabbitMQ."""
    connection = await aio_pika.connect_robust(amqp_url)
    yield connection
    await connection.close()


@contextlib.asynccontextmanager
async def scratch_channel(amqp: AbstractRobustConnection) -> AsyncIterator[AbstractChannel]:
    """A channel for one cleanup operation; a failure (e.g. nothing to delete) is ignored."""
    with contextlib.suppress(*CONNECTION_EXCEPTIONS):
        async with amqp.channel(publisher_confirms=False) as channel:
            yield channel


@pytest.fixture(scope="session")
async def events_exchange(amqp_url: str) -> AsyncIterator[str]:
    """An events exchange of this test session, deleted at its end with its queues.

    Declaring the catalogue's quorum queues is costly, so tests share them; each test's api
    queue is purged when its apps have stopped (see `api_client`).
    """
    exchange = new_exchange_name("test-api")
    yield exchange
    await delete_event_topology(amqp_url, exchange)


@pytest.fixture
def api_settings(
    mongo_url: str,
    amqp_url: str,
    db: AsyncDatabase[Any],
    events_exchange: str,
    key_server: KeyServer,
    upload_peer: UploadStandIn,
    ratelimit_url: str,
) -> Callable[..., ApiSettings]:
    """`api_settings(**overrides)`: settings of an api app on the test's database and exchange."""

    def make(**overrides: Any) -> ApiSettings:
        values: dict[str, Any] = {
            "mongo_url": mongo_url,
            "mongo_database": db.name,
            "amqp_url": amqp_url,
            "events_exchange": events_exchange,
            "auth_url": key_server.base_url,
            "ratelimit_url": ratelimit_url,
            # Generous: a slow machine must not fall back to per-process counting.
            "ratelimit_timeout_s": 2.0,
            # Exact limits are asserted: every check waits for the service (no hedging).
            "ratelimit_hedge_floor_s": 2.0,
            "upload_url": upload_peer.base_url,
            "instance_name": f"api-test-{uuid.uuid4().hex[:6]}",
            **overrides,
        }
        return ApiSettings(**values)

    return make


@pytest.fixture
async def api_client(
    api_settings: Callable[..., ApiSettings],
    amqp: AbstractRobustConnection,
    events_exchange: str,
) -> AsyncIterator[ApiClientFactory]:
    """`await api_client(**setting_overrides)`: a client of a started api app.

    Afterwards the apps stop, then the api queues are purged: events a test left behind are not
    consumed by the next test's app.
    """
    clients: list[TestClient] = []

    async def make(**overrides: Any) -> TestClient:
        client = TestClient(TestServer(create_app(api_settings(**overrides))))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    for queue in (f"{events_exchange}.api", f"{events_exchange}.api.dlq"):
        async with scratch_channel(amqp) as channel:
            await (await channel.get_queue(queue, ensure=False)).purge()


@pytest.fixture
async def client(api_client: ApiClientFactory) -> TestClient:
    """A client of an api app with the test settings."""
    return await api_client()


@pytest.fixture
def caller(client: TestClient, key_server: KeyServer) -> CallerFactory:
    """`caller(role)`: a new signed-in user with `role` and an address of its own."""
    return lambda role: Caller(client, key_server, role)


@pytest.fixture
async def publish(amqp: AbstractRobustConnection, events_exchange: str) -> AsyncIterator[Publish]:
    """`await publish(name, data, service="auth")`: a confirmed event on the test's exchange."""
    publisher = EventPublisher(amqp, ExchangeSpec(events_exchange))

    async def send(
        name: str, data: dict[str, Any], *, service: str = "auth", time: datetime | None = None
    ) -> CloudEvent:
        event = new_event(name, data, service=service)
        if time is not None:
            event = event.model_copy(update={"time": time})
        await publisher.publish_confirmed(event)
        return event

    yield send
    await publisher.close()
