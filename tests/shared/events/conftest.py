"""Fixtures for the events package: a scratch database, a broker connection, scratch topology."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection
from events_scratch import Eventually, Scratch, SeverableProxy, eventually
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase


@pytest.fixture(name="eventually")
def eventually_fixture() -> Eventually:
    """``await eventually(check, "what")``: poll an async check, fail after a bounded wait."""
    return eventually


@pytest.fixture
async def db(mongo_client: AsyncMongoClient[Any]) -> AsyncIterator[AsyncDatabase[Any]]:
    """A database of its own for each test, dropped afterwards."""
    name = f"test_events_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


@pytest.fixture
async def amqp(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    """A robust connection for the test, closed afterwards (exclusive queues go with it)."""
    connection = await aio_pika.connect_robust(amqp_url)
    yield connection
    await connection.close()


@pytest.fixture
async def scratch(amqp: AbstractRobustConnection) -> AsyncIterator[Scratch]:
    """A unique exchange name and cleanup of what the test declares on it."""
    scratch = Scratch(amqp)
    yield scratch
    await scratch.cleanup()


@pytest.fixture
async def proxy(amqp_url: str) -> AsyncIterator[SeverableProxy]:
    """A TCP proxy to the broker that the test can cut; ``proxy.url(amqp_url)`` goes through it."""
    proxy = SeverableProxy(amqp_url)
    await proxy.start()
    yield proxy
    await proxy.close()
