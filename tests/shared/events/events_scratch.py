"""Test helpers for the events package: a scratch exchange with cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from polling import WAIT_S

from nocturnal.shared.events.catalogue import catalogue_queue_names
from nocturnal.shared.events.topology import (
    ExchangeSpec,
    QueueSpec,
    declare,
    instance_queue,
    service_queue,
)


class Scratch:
    """A unique exchange and the queues a test declares on it; all deleted afterwards."""

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self.connection = connection
        self.exchange = ExchangeSpec(f"test.events.{uuid.uuid4().hex[:12]}")
        self._queues: set[str] = set()

    def service_queue(self, service: str, keys: list[str], **kwargs: Any) -> QueueSpec:
        """A service queue (and its DLQ) on the scratch exchange, registered for cleanup."""
        return self.track(service_queue(self.exchange, service, keys, **kwargs))

    def instance_queue(self, service: str, keys: list[str], **kwargs: Any) -> QueueSpec:
        """A fan-out queue on the scratch exchange, registered for cleanup."""
        return self.track(instance_queue(self.exchange, service, "test-host", keys, **kwargs))

    def track(self, spec: QueueSpec) -> QueueSpec:
        """Register ``spec`` (and its dead-letter queue) for deletion after the test."""
        self._queues.add(spec.name)
        if spec.dead_letter is not None:
            self._queues.add(spec.dead_letter.name)
        return spec

    async def declare(self, *specs: QueueSpec) -> None:
        """Declare the scratch exchange and ``specs`` on a short-lived channel."""
        for spec in specs:
            self.track(spec)
        async with self.connection.channel() as channel:
            await declare(channel, self.exchange, *specs)

    async def publish_raw(self, body: bytes, routing_key: str) -> None:
        """Publish arbitrary bytes to the scratch exchange (confirmed)."""
        async with self.connection.channel() as channel:
            exchange = await channel.get_exchange(self.exchange.name, ensure=False)
            await exchange.publish(aio_pika.Message(body), routing_key=routing_key)

    async def get(self, queue: str, within: float = WAIT_S) -> AbstractIncomingMessage:
        """The next message of ``queue`` (acked); fail the test if none arrives in time."""
        message = await self.get_or_none(queue, within)
        if message is None:
            pytest.fail(f"no message in {queue} within {within}s")
        return message

    async def get_or_none(self, queue: str, within: float = 0.0) -> AbstractIncomingMessage | None:
        """The next message of ``queue`` (acked) within ``within`` seconds, else None."""
        deadline = time.monotonic() + within
        async with self.connection.channel() as channel:
            amqp_queue = await channel.get_queue(queue, ensure=False)
            while True:
                message = await amqp_queue.get(fail=False)
                if message is not None:
                    await message.ack()
                    return message
                if time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(0.02)

    async def drain(self, queue: str) -> list[AbstractIncomingMessage]:
        """Every message waiting in ``queue`` now (acked)."""
        messages = []
        while (message := await self.get_or_none(queue)) is not None:
            messages.append(message)
        return messages

    async def cleanup(self) -> None:
        """Delete the queues and both exchanges (each on its own channel: an error closes it)."""
        for name in sorted(set(self._queues) | set(catalogue_queue_names(self.exchange))):
            with self._quietly():
                async with self.connection.channel(publisher_confirms=False) as channel:
                    await channel.queue_delete(name)
        for name in (self.exchange.name, self.exchange.dead_letter_exchange):
            with self._quietly():
                async with self.connection.channel(publisher_confirms=False) as channel:
                    await channel.exchange_delete(name)

    @staticmethod
    def _quietly() -> contextlib.suppress:
        return contextlib.suppress(*CONNECTION_EXCEPTIONS)
