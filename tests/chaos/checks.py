"""What the chaos tests check after a fault: writes stored once, events once, readiness."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient

from chaos.driver import SteadyLoad


async def stored_duties(mongo_url: str, tag: str) -> dict[str, list[str]]:
    """The ids of the stored duties titled `chaos duty <tag>-<seq>`, by title."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url)
    try:
        cursor = client["nocturnal_api"]["duties"].find(
            {"title": {"$regex": f"^chaos duty {tag}-"}}, {"title": 1}
        )
        stored: dict[str, list[str]] = {}
        async for doc in cursor:
            stored.setdefault(doc["title"], []).append(str(doc["_id"]))
        return stored
    finally:
        await client.close()


def written_once(load: SteadyLoad, stored: dict[str, list[str]]) -> list[str]:
    """What is wrong with the load's duty postings: a 201 whose duty is not stored, or a
    posting stored twice. Empty when every posting took effect at most once and every 201
    once."""
    posted = [o for o in load.outcomes if o.step == "post duty" and o.status == 201]
    created = {f"chaos duty {o.key}" for o in posted}
    twice = sorted(title for title, ids in stored.items() if len(ids) > 1)
    lost = sorted(created - set(stored))
    return [f"stored twice: {twice}"] * bool(twice) + [f"201 but not stored: {lost}"] * bool(lost)


def created_ids(load: SteadyLoad) -> list[str]:
    """The ids in the 201 answers of the load's duty postings."""
    posted = [o for o in load.outcomes if o.step == "post duty" and o.status == 201]
    return [json.loads(o.body)["id"] for o in posted]


async def readiness(url: str) -> int | None:
    """The status of `url`/health/ready, None when it does not answer within 2 s."""
    timeout = aiohttp.ClientTimeout(total=2)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{url}/health/ready") as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def wait_readiness(urls: list[str], status: int, within_s: float = 90.0) -> None:
    """Wait until every instance at `urls` answers readiness with `status`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        seen = Counter([await readiness(url) for url in urls])
        if seen == Counter({status: len(urls)}):
            return
        assert loop.time() < deadline, (
            f"readiness {dict(seen)}, not all {status}, after {within_s:.0f} s"
        )
        await asyncio.sleep(0.2)


def postings_recovered(load: SteadyLoad, in_a_row: int = 5) -> Callable[[], bool]:
    """A condition: the last `in_a_row` duty postings answered from now on all succeeded.

    After a fault that cut transactions off, the documents they hold (here the poster's
    erasure-ledger entry) refuse that user's writes with 503 until they end: within seconds
    after a database outage (the services abort them, `nocturnal.shared.mongo_sessions`), 60 s
    after an instance was killed mid-request (the server reaps them,
    `transactionLifetimeLimitSeconds`).
    """
    first = len(load.outcomes)

    def recovered() -> bool:
        posted = [o for o in load.outcomes[first:] if o.step == "post duty"]
        return len(posted) >= in_a_row and all(o.status == 201 for o in posted[-in_a_row:])

    return recovered
