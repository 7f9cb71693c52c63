"""A TCP proxy whose connections a test can cut: network loss between a client and a server."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse


class SeverableProxy:
    """A TCP proxy in front of a server (the broker, MongoDB) whose connections the test can cut
    (network loss); `server_url` names the server's host and port."""

    def __init__(self, server_url: str) -> None:
        server = urllib.parse.urlsplit(server_url)
        self._target = (server.hostname or "127.0.0.1", server.port or 5672)
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
