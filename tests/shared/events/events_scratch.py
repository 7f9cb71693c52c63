"""Test helpers for the events package: a scratch exchange with cleanup, a severable proxy."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
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


class SeverableProxy:
    """A TCP proxy in front of the broker whose connections the test can cut (network loss)."""

    def __init__(self, amqp_url: str) -> None:
        broker = urllib.parse.urlsplit(amqp_url)
        self._target = (broker.hostname or "127.0.0.1", broker.port or 5672)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.refusing = False
        """While True, new connections are closed at once (the broker is down)."""

    async def start(self) -> None:
        """Listen on a free local port (``self.port``)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def sever(self) -> None:
        """Abort every proxied connection; new ones are accepted again."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        """Stop listening and cut every connection."""
        if self._server is not None:
            self._server.close()
        self.sever()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, amqp_url: str, **query: str) -> str:
        """``amqp_url`` rewritten to go through this proxy, with extra query parameters."""
        broker = urllib.parse.urlsplit(amqp_url)
        netloc = f"{broker.username}:{broker.password}@127.0.0.1:{self.port}"
        return urllib.parse.urlunsplit(
            broker._replace(netloc=netloc, query=urllib.parse.urlencode(query))
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers.update((writer, upstream_writer))
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()
