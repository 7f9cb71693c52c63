"""The MongoDB unit of work: a use case's changes and its events commit together, or neither."""

from __future__ import annotations

from typing import Any

import pytest
from outbox_only import OutboxOnlyBus
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from nocturnal.shared.events import CloudEvent, new_event
from nocturnal.shared.mongo import MongoUnitOfWork
from nocturnal.shared.unit_of_work import DomainEvent, Transaction


class Notes:
    """A repository of the test: one collection, bound to a session or not."""

    def __init__(self, db: AsyncDatabase[Any], session: AsyncClientSession | None) -> None:
        self._notes = db["notes"]
        self._session = session

    async def add(self, text: str) -> None:
        await self._notes.insert_one({"text": text}, session=self._session)

    async def texts(self) -> list[str]:
        return [doc["text"] async for doc in self._notes.find({}, session=self._session)]


@pytest.fixture
def bus(db: AsyncDatabase[Any]) -> OutboxOnlyBus:
    return OutboxOnlyBus(db)


@pytest.fixture
def uow(db: AsyncDatabase[Any], bus: OutboxOnlyBus) -> MongoUnitOfWork[Notes]:
    return MongoUnitOfWork(db.client, lambda session: Notes(db, session), bus)


NOTED = DomainEvent("note.added", {"text": "hello"}, subject="n1")


async def test_changes_and_events_commit_together_then_the_relay_is_woken(
    uow: MongoUnitOfWork[Notes], db: AsyncDatabase[Any], bus: OutboxOnlyBus
) -> None:
    async def work(tx: Transaction[Notes]) -> str:
        await tx.repositories.add("hello")
        tx.publish(NOTED)
        return "done"

    assert await uow.run(work) == "done"
    assert await uow.repositories.texts() == ["hello"]
    [event] = await OutboxOnlyBus(db).pending()
    assert (event["type"], event["source"], event["subject"], event["data"]) == (
        "nocturnal.note.added.v1",
        "/services/test",
        "n1",
        {"text": "hello"},
    )
    assert bus.wake_ups == 1


async def test_a_failing_use_case_stores_neither_changes_nor_events(
    uow: MongoUnitOfWork[Notes], db: AsyncDatabase[Any], bus: OutboxOnlyBus
) -> None:
    async def work(tx: Transaction[Notes]) -> None:
        await tx.repositories.add("half")
        tx.publish(NOTED)
        raise LookupError("a rule refused it")

    with pytest.raises(LookupError):
        await uow.run(work)
    assert await uow.repositories.texts() == []
    assert await OutboxOnlyBus(db).pending() == []
    assert bus.wake_ups == 0


async def test_a_transient_conflict_runs_the_use_case_again_with_fresh_events(
    uow: MongoUnitOfWork[Notes], db: AsyncDatabase[Any], bus: OutboxOnlyBus
) -> None:
    attempts = 0

    async def work(tx: Transaction[Notes]) -> None:
        nonlocal attempts
        attempts += 1
        await tx.repositories.add(f"attempt {attempts}")
        tx.publish(NOTED)
        if attempts == 1:
            conflict = OperationFailure("write conflict", code=112)
            conflict._add_error_label("TransientTransactionError")
            raise conflict

    await uow.run(work)
    assert attempts == 2
    assert await uow.repositories.texts() == ["attempt 2"]
    assert len(await OutboxOnlyBus(db).pending()) == 1
    assert bus.wake_ups == 1


async def test_a_use_case_without_events_does_not_wake_the_relay(
    uow: MongoUnitOfWork[Notes], bus: OutboxOnlyBus
) -> None:
    async def work(tx: Transaction[Notes]) -> None:
        await tx.repositories.add("quiet")

    await uow.run(work)
    assert bus.wake_ups == 0


async def test_an_inbox_handler_joins_the_consumers_transaction(
    uow: MongoUnitOfWork[Notes], db: AsyncDatabase[Any]
) -> None:
    async def on_event(event: CloudEvent, tx: Transaction[Notes]) -> None:
        await tx.repositories.add(event.data["text"])
        tx.publish(NOTED)

    handler = uow.joining(on_event)
    received = new_event("note.requested", {"text": "from an event"}, service="other")
    async with db.client.start_session() as session:
        await session.start_transaction()
        await handler(received, session)
        assert await Notes(db, None).texts() == []  # nothing visible before the commit
        await session.abort_transaction()
    assert await uow.repositories.texts() == []
    assert await OutboxOnlyBus(db).pending() == []

    async with db.client.start_session() as session, await session.start_transaction():
        await handler(received, session)
    assert await uow.repositories.texts() == ["from an event"]
    assert len(await OutboxOnlyBus(db).pending()) == 1
