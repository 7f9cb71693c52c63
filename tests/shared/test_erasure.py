"""The erasure ledger on a real MongoDB: claims, marks, and a claim and a mark of one user
never overlapping unseen."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.shared.clock import utc_now
from nocturnal.shared.erasure import ERASURES_COLLECTION, MongoErasureLedger
from nocturnal.shared.mongo import in_transaction


async def test_a_user_is_claimable_until_marked_and_the_first_mark_is_kept(
    db: AsyncDatabase[Any],
) -> None:
    ledger, first = MongoErasureLedger(db), utc_now()
    assert await ledger.claim("u1")
    assert await ledger.claim("u1")
    await ledger.mark_erased("u1", first)
    await ledger.mark_erased("u1", first + timedelta(minutes=5))
    assert not await ledger.claim("u1")
    assert await ledger.claim("u2")
    entry = await db[ERASURES_COLLECTION].find_one({"_id": "u1"})
    assert entry is not None
    assert (entry["writes"], abs(entry["erased_at"] - first) < timedelta(milliseconds=1)) == (
        5,
        True,
    )


async def test_a_mark_started_while_a_claim_is_open_runs_again_after_it(
    db: AsyncDatabase[Any],
) -> None:
    """Without the claim's write, the mark's transaction would commit on its own snapshot and
    the claiming one would store data of an erased user."""
    claimed, mark_attempts = asyncio.Event(), 0

    async def claim(session: Any) -> bool:
        allowed = await MongoErasureLedger(db, session).claim("u1")
        claimed.set()
        await asyncio.sleep(0.5)
        await db["things"].insert_one({"owner": "u1"}, session=session)
        return allowed

    async def mark(session: Any) -> int:
        nonlocal mark_attempts
        mark_attempts += 1
        await MongoErasureLedger(db, session).mark_erased("u1", utc_now())
        return await db["things"].count_documents({"owner": "u1"}, session=session)

    async def mark_once_claimed() -> int:
        await claimed.wait()
        return await in_transaction(db.client, mark)

    allowed, seen = await asyncio.gather(in_transaction(db.client, claim), mark_once_claimed())
    assert (allowed, seen) == (True, 1)  # the mark saw what the claim stored
    assert mark_attempts > 1
