"""What the chaos tests see of the events: a queue of their own on a stack's exchange."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from nocturnal.shared.events import parse


@dataclass
class EventTap:
    """Every event published under `routing_keys` while it listens: how often each event id
    and each subject (e.g. `duties/<id>`) arrived."""

    ids: Counter[str] = field(default_factory=Counter)
    subjects: Counter[str] = field(default_factory=Counter)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        event = parse(message.body)
        self.ids[event.id] += 1
        self.subjects[event.subject or ""] += 1
        await message.ack()

    @property
    def duplicates(self) -> list[str]:
        """Event ids that arrived more than once."""
        return [event_id for event_id, n in self.ids.items() if n > 1]


@contextlib.asynccontextmanager
async def tapping(
    amqp_url: str, exchange: str, routing_keys: Iterable[str]
) -> AsyncIterator[EventTap]:
    """A durable queue of its own bound to `exchange` under `routing_keys`, consumed into an
    `EventTap`; deleted on exit. Loses nothing across a broker restart (a durable queue, a
    robust connection that consumes again)."""
    tap = EventTap()
    connection: AbstractRobustConnection = await aio_pika.connect_robust(amqp_url, timeout=30)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"chaos-tap-{uuid.uuid4().hex[:12]}", durable=True)
        try:
            for key in routing_keys:
                await queue.bind(exchange, routing_key=key)
            await queue.consume(tap._on_message)
            yield tap
        finally:
            await queue.delete(if_unused=False, if_empty=False)
