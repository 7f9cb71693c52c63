"""A redis-server of a test's own that can be stopped, started again on the same port, and hung
(`DEBUG SLEEP`): the faults of the limiter's store, never on the machine's shared Redis."""

from __future__ import annotations

import asyncio
import subprocess

from redis.asyncio import Redis
from redis.exceptions import RedisError

from nocturnal.ratelimit.adapters.redis_store import connect
from tools.devstack import redis_answers, wait_until


class PrivateRedis:
    """A redis-server on `port` (no persistence, the debug command enabled)."""

    def __init__(self, port: int) -> None:
        self.url = f"redis://127.0.0.1:{port}/0"
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again); return once it answers."""
        argv = ["redis-server", "--port", str(self._port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--enable-debug-command", "yes"]
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        wait_until(lambda: redis_answers(self.url), "private redis-server", timeout=10)

    def stop(self) -> None:
        """SIGTERM it and wait for it to exit (connections are then refused)."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    async def hang(self, seconds: float) -> asyncio.Task[object]:
        """Make it answer nothing for `seconds` (`DEBUG SLEEP` from a connection of its own);
        returns once it has stopped answering, with the task that ends when it answers again."""
        admin = Redis.from_url(self.url, socket_timeout=seconds + 10)

        async def sleep() -> object:
            try:
                return await admin.execute_command("DEBUG", "SLEEP", str(seconds))
            finally:
                await admin.aclose()

        sleeping = asyncio.create_task(sleep())
        probe = connect(self.url, timeout_s=0.02)
        try:
            while True:
                try:
                    await probe.ping()
                except RedisError:
                    return sleeping
                await asyncio.sleep(0.005)
        finally:
            await probe.aclose()
