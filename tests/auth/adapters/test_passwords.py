"""argon2id hashing off the event loop with bounded concurrency."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterator

import argon2
import pytest

from nocturnal.auth.adapters.passwords import Argon2Hasher
from nocturnal.auth.service_layer.ports import HasherBusy
from nocturnal.auth.settings import (
    ARGON2_MIN_MEMORY_KIB,
    ARGON2_MIN_PARALLELISM,
    ARGON2_MIN_TIME_COST,
)

PASSWORD = "night shift at the ward"


@pytest.fixture
def hasher() -> Iterator[Argon2Hasher]:
    hasher = Argon2Hasher(
        memory_kib=ARGON2_MIN_MEMORY_KIB,
        time_cost=ARGON2_MIN_TIME_COST,
        parallelism=ARGON2_MIN_PARALLELISM,
        concurrency=1,
        wait_s=0.05,
        queue=1,
    )
    yield hasher
    hasher.close()


async def test_hashes_are_argon2id_with_at_least_the_owasp_parameters(
    hasher: Argon2Hasher,
) -> None:
    parameters = argon2.extract_parameters(await hasher.hash(PASSWORD))
    assert parameters.type is argon2.Type.ID
    assert parameters.memory_cost >= 19 * 1024
    assert parameters.time_cost >= 2
    assert parameters.parallelism >= 1


async def test_verify_accepts_the_password_and_rejects_others(hasher: Argon2Hasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert await hasher.verify(password_hash, PASSWORD)
    assert not await hasher.verify(password_hash, PASSWORD + "!")
    assert not await hasher.verify("not a hash", PASSWORD)


async def test_an_unknown_account_never_verifies(hasher: Argon2Hasher) -> None:
    assert not await hasher.verify(None, PASSWORD)


async def test_hashing_does_not_block_the_event_loop(hasher: Argon2Hasher) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    await hasher.hash(PASSWORD)
    ticker.cancel()
    assert ticks >= 5


async def test_a_caller_that_waits_too_long_for_a_slot_gets_busy() -> None:
    slow = Argon2Hasher(
        memory_kib=ARGON2_MIN_MEMORY_KIB,
        time_cost=20,
        parallelism=1,
        concurrency=1,
        wait_s=0.01,
        queue=1,
    )
    first = asyncio.create_task(slow.hash(PASSWORD))
    await asyncio.sleep(0)
    with pytest.raises(HasherBusy):
        await slow.hash(PASSWORD)
    await first
    assert await slow.verify(await first, PASSWORD)
    slow.close()


async def test_a_caller_beyond_the_queue_is_refused_at_once_not_queued() -> None:
    # A wait long enough for every hash here: a refusal can only come from the queue bound.
    slow = Argon2Hasher(
        memory_kib=ARGON2_MIN_MEMORY_KIB,
        time_cost=20,
        parallelism=1,
        concurrency=1,
        wait_s=60,
        queue=1,
    )
    hashing = asyncio.create_task(slow.hash(PASSWORD))
    waiting = asyncio.create_task(slow.hash(PASSWORD))
    await asyncio.sleep(0)

    with pytest.raises(HasherBusy):
        await slow.hash(PASSWORD)

    assert await slow.verify(await hashing, PASSWORD)
    assert await slow.verify(await waiting, PASSWORD)
    slow.close()


async def test_a_refused_or_cancelled_caller_frees_its_place_in_the_queue() -> None:
    slow = Argon2Hasher(
        memory_kib=ARGON2_MIN_MEMORY_KIB,
        time_cost=20,
        parallelism=1,
        concurrency=1,
        wait_s=60,
        queue=1,
    )
    hashing = asyncio.create_task(slow.hash(PASSWORD))
    cancelled = asyncio.create_task(slow.hash(PASSWORD))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled

    waiting = asyncio.create_task(slow.hash(PASSWORD))  # takes the cancelled caller's place
    await asyncio.sleep(0)
    with pytest.raises(HasherBusy):
        await slow.hash(PASSWORD)
    assert await slow.verify(await hashing, PASSWORD)
    assert await slow.verify(await waiting, PASSWORD)
    assert await slow.verify(await slow.hash(PASSWORD), PASSWORD)  # all places free again
    slow.close()


async def test_a_place_taken_first_is_held_for_the_hashes_inside_it() -> None:
    # One place in all (one slot, no waiting room), and a wait far longer than the test.
    hasher = Argon2Hasher(
        memory_kib=ARGON2_MIN_MEMORY_KIB,
        time_cost=ARGON2_MIN_TIME_COST,
        parallelism=ARGON2_MIN_PARALLELISM,
        concurrency=1,
        wait_s=60,
        queue=0,
    )

    async def another_caller() -> str:
        return await hasher.hash(PASSWORD)

    with hasher.admitted():
        stored = await hasher.hash(PASSWORD)  # uses the place held, takes no second one
        with hasher.admitted():  # nested: the same place
            assert await hasher.verify(stored, PASSWORD)
        with pytest.raises(HasherBusy):  # refused at once: the only place is held
            await asyncio.create_task(another_caller(), context=contextvars.Context())

    assert await hasher.verify(await another_caller(), PASSWORD)  # the place is free again
    hasher.close()


def test_a_hash_with_weaker_parameters_needs_a_rehash(hasher: Argon2Hasher) -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    assert hasher.needs_rehash(weak.hash(PASSWORD))
