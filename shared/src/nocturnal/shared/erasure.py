"""The erasure ledger of a `user.deleted` consumer (MongoDB): one entry per user, marked when
the user's data is erased, claimed by every transaction that stores new data of a user.

Why a write and not a look-up: MongoDB transactions run on snapshots, so a transaction that only
*read* "not erased" could commit a new file or application of a user while the erasure, started
on an earlier snapshot, deletes everything it saw — neither sees the other (write skew). Both
write the user's entry instead, so the second writer meets a write conflict and its
transaction runs again on a fresh snapshot: the erasure then finds the new data and erases it,
or the store finds the mark and refuses.

Marks are kept: a user id is never reused (an e-mail that registers again gets a new id), and a
late or replayed event about an erased user (a `user.registered` retried from a dead-letter
queue, a `file.uploaded` that overtook the `user.deleted`) must keep finding the mark. An entry
holds the user id, a write counter and the erasure time, nothing about the person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

ERASURES_COLLECTION = "erasures"


class MongoErasureLedger:
    """The `erasures` collection of a service's database, bound to `session`'s transaction.

    Shape: `{_id: user_id, writes: int, erased_at: datetime | absent}`. Used inside the unit of
    work's transactions (outside one, a claim still answers but protects nothing).
    """

    def __init__(self, db: AsyncDatabase[Any], session: AsyncClientSession | None = None) -> None:
        self._entries = db[ERASURES_COLLECTION]
        self._session = session

    async def claim(self, user_id: str) -> bool:
        """Before storing new data of `user_id` in this transaction: True when that may be done
        (the user's entry is written, so a concurrent erasure conflicts with this transaction);
        False when the user's data was erased (store nothing)."""
        entry = await self._entries.find_one_and_update(
            {"_id": user_id},
            {"$inc": {"writes": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        # An upsert returning the document after the update always returns one.
        return entry is not None and entry.get("erased_at") is None

    async def mark_erased(self, user_id: str, now: datetime) -> None:
        """Mark `user_id` erased at `now`, in the erasure's transaction. Where in it does not
        matter for correctness (a claim committed after the erasure's snapshot, or in progress,
        conflicts with the mark whenever it is written); last holds the entry for the shortest
        time. Marking again keeps the first time."""
        await self._entries.update_one(
            {"_id": user_id},
            {"$inc": {"writes": 1}, "$min": {"erased_at": now}},
            upsert=True,
            session=self._session,
        )
