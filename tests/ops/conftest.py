"""Fixtures of the ops tests: the catalogue's topology on an exchange of this session."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection

from nocturnal.shared.events import (
    ExchangeSpec,
    catalogue_queue_names,
    catalogue_queues,
    dead_letter_queue,
    declare,
)
from nocturnal.shared.events.catalogue import SERVICES
from tools.devstack import delete_event_topology, new_exchange_name


@pytest.fixture(scope="session")
async def ops_exchange(amqp_url: str) -> AsyncIterator[ExchangeSpec]:
    """An events exchange with every catalogue queue declared (and each service's dead-letter
    queue, as its fan-out consumers would), deleted with them at the end."""
    exchange = ExchangeSpec(new_exchange_name("test-ops"))
    dead_letters = [dead_letter_queue(exchange, service) for service in SERVICES]
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel() as channel:
        await declare(channel, exchange, *catalogue_queues(exchange), *dead_letters)
    yield exchange
    await delete_event_topology(amqp_url, exchange.name)


@pytest.fixture
async def amqp(
    amqp_url: str, ops_exchange: ExchangeSpec
) -> AsyncIterator[AbstractRobustConnection]:
    """A connection for the test; every catalogue queue starts empty."""
    connection = await aio_pika.connect_robust(amqp_url)
    for name in catalogue_queue_names(ops_exchange):
        async with connection.channel() as channel:
            await (await channel.get_queue(name, ensure=False)).purge()
    yield connection
    await connection.close()


@pytest.fixture
def out() -> io.StringIO:
    """What a command prints."""
    return io.StringIO()
