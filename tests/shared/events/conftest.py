"""Fixtures for the events package: a scratch database, a broker connection, scratch topology."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection
from events_scratch import Scratch
from severable_proxy import SeverableProxy


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
