"""Private events exchanges (`exchanges`): unique exchanges whose catalogue queues are deleted
afterwards, for tests and benchmarks that share one broker.

Quorum queues are heavy for a 2-core broker: a test or bench run must leave none behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import aio_pika
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from nocturnal.shared.events import ExchangeSpec, catalogue_queue_names


def new_exchange_name(label: str = "test") -> str:
    """A unique events exchange name (`nocturnal.events.<label>-<random>`)."""
    return f"nocturnal.events.{label}-{uuid.uuid4().hex[:12]}"


async def delete_event_topology(amqp_url: str, exchange: str) -> None:
    """Delete `exchange`, its dead-letter exchange and every catalogue queue bound on it."""
    spec = ExchangeSpec(exchange)
    connection = await aio_pika.connect(amqp_url, timeout=30)
    async with connection:
        deletions = [(True, q) for q in catalogue_queue_names(spec)]
        deletions += [(False, x) for x in (spec.name, spec.dead_letter_exchange)]
        for is_queue, name in deletions:
            # One channel per deletion: a failed operation closes its channel.
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                channel = await connection.channel(publisher_confirms=False)
                if is_queue:
                    await channel.queue_delete(name)
                else:
                    await channel.exchange_delete(name)
                await channel.close()


@contextlib.contextmanager
def private_event_exchange(amqp_url: str, label: str = "test") -> Iterator[str]:
    """A unique events exchange, deleted with its catalogue queues afterwards (sync fixtures)."""
    exchange = new_exchange_name(label)
    try:
        yield exchange
    finally:
        asyncio.run(delete_event_topology(amqp_url, exchange))
