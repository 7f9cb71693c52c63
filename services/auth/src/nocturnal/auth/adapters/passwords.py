"""argon2id password hashing off the event loop, with bounded concurrency."""

from __future__ import annotations

import asyncio
import contextvars
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import argon2

from nocturnal.auth.service_layer.ports import HasherBusy

T = TypeVar("T")


class Argon2Hasher:
    """The `PasswordHasher`: argon2id hashing and verification in a thread pool of
    `concurrency` workers.

    At most `queue` callers wait for a slot, each at most `wait_s` seconds; a caller beyond
    them, or one still waiting after `wait_s`, gets `HasherBusy` (503 + Retry-After), so a
    burst of logins is shed instead of queued without bound (memory: `memory_kib` per slot;
    latency: at most `wait_s` plus one hash). A use case that spends something before it
    hashes (a rate-limit check, a read) takes its place first with `admitted()`, so a caller
    shed costs nothing else. Verifying for an unknown account runs against a dummy hash so it
    costs the same.
    """

    def __init__(
        self,
        *,
        memory_kib: int,
        time_cost: int,
        parallelism: int,
        concurrency: int,
        wait_s: float,
        queue: int,
    ) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._slots = asyncio.Semaphore(concurrency)
        self._wait_s = wait_s
        self._admitted = 0  # hashing or waiting for a slot
        self._bound = concurrency + queue
        self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(32))
        # True in a task (and what it awaits) that holds a place taken by `admitted()`.
        self._holding = contextvars.ContextVar(f"argon2-place-{id(self)}", default=False)

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold a place among the `concurrency + queue` callers hashing or waiting to, for the
        whole block: hashes inside it use this place (nested blocks share it).

        Raises:
            HasherBusy: every place is taken (at once: nothing in the block has run).
        """
        if self._holding.get():
            yield
            return
        self._enter()
        token = self._holding.set(True)
        try:
            yield
        finally:
            self._holding.reset(token)
            self._admitted -= 1

    async def hash(self, password: str) -> str:
        """The argon2id PHC string of `password`.

        Raises:
            HasherBusy: no slot within the wait.
        """
        return await self._run(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches `password_hash` (None: an unknown account, always False).

        Raises:
            HasherBusy: no slot within the wait.
        """
        matches = await self._run(self._matches, password_hash or self._dummy_hash, password)
        return matches and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """True when `password_hash` was made with other parameters than the configured ones."""
        return self._argon2.check_needs_rehash(password_hash)

    def close(self) -> None:
        """Stop the worker threads (after the running hashes finish)."""
        self._executor.shutdown(wait=True)

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def _enter(self) -> None:
        if self._admitted >= self._bound:
            raise HasherBusy
        self._admitted += 1

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        placed = not self._holding.get()  # this call takes (and gives back) a place of its own
        if placed:
            self._enter()
        try:
            async with asyncio.timeout(self._wait_s):
                await self._slots.acquire()
        except TimeoutError:
            self._admitted -= placed
            raise HasherBusy from None
        except BaseException:  # cancelled while waiting: it never got a slot
            self._admitted -= placed
            raise
        loop = asyncio.get_running_loop()
        job = self._executor.submit(work, *args)
        # Free the slot when the thread is done, not when a cancelled caller stops waiting.
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._free, placed))
        return await asyncio.wrap_future(job)

    def _free(self, placed: bool) -> None:
        self._admitted -= placed
        self._slots.release()
