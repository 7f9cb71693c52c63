"""Transactions an outage cut off are aborted on the server once it answers again, on a
MongoDB (SecantusDB) of the tests' own that they pause, stop or cut off behind a proxy.

Without the kill, the server holds such a transaction's documents until it reaps it, 60 s
after its last statement: every other write to them fails with a write conflict until then.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pymongo
import pytest
from bson import Binary
from chaos.servers import RestartableMongo, answering_again
from polling import eventually
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError
from severable_proxy import SeverableProxy

from nocturnal.shared import mongo as mongo_module
from nocturnal.shared.mongo import connect, in_transaction
from nocturnal.shared.mongo_errors import CommitOutcomeUnknown, database_unavailable
from nocturnal.shared.mongo_sessions import AbandonedTransactions, transaction_session

pytestmark = pytest.mark.integration

# Well under the server's 60 s reaping: only the kill can free the document this soon.
FREED_WITHIN_S = 15.0


def killed(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("mongo_abandoned_transactions_total", {"outcome": outcome}) or 0.0
    )


@pytest.fixture(scope="module")
def mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableMongo]:
    root = tmp_path_factory.mktemp("sessions-mongo")
    with RestartableMongo(root / "data", root) as server:
        yield server


def client_of(url: str) -> AsyncMongoClient[Any]:
    """A client that gives up fast (a hung server costs 2 s, not 10)."""
    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=1000, timeoutMS=2000)


@pytest.fixture
async def client(mongo: RestartableMongo) -> AsyncIterator[AsyncMongoClient[Any]]:
    client = client_of(mongo.url)
    yield client
    await client.close()


@pytest.fixture
async def docs(client: AsyncMongoClient[Any]) -> AsyncIterator[AsyncCollection[Any]]:
    collection = client["test_sessions"][f"docs_{secrets.token_hex(4)}"]
    await collection.insert_one({"_id": "x", "n": 0})
    yield collection
    await collection.drop()


async def increment(docs: AsyncCollection[Any], by: int) -> None:
    """One transaction adding `by` to document x, through `transaction_session` inside a time
    limit as `nocturnal.shared.mongo.in_transaction` runs it (a spent limit must not reach the
    kills)."""
    with pymongo.timeout(2.0):
        async with (
            transaction_session(docs.database.client) as session,
            await session.start_transaction(),
        ):
            await docs.update_one({"_id": "x"}, {"$inc": {"n": by}}, session=session)


async def writable_again(docs: AsyncCollection[Any]) -> None:
    """Wait until a transaction writing document x commits (no longer held)."""

    async def committed() -> bool:
        try:
            await increment(docs, 10)
        except PyMongoError:
            return False
        return True

    await eventually(committed, "document x writable again", within=FREED_WITHIN_S)


async def test_a_transaction_a_hung_server_ran_after_resuming_is_aborted(
    mongo: RestartableMongo, docs: AsyncCollection[Any]
) -> None:
    aborted = killed("aborted")
    mongo.pause()
    try:
        with pytest.raises(PyMongoError):  # queued on the hung server; the client gives up
            await increment(docs, 1)
    finally:
        mongo.resume()  # the server now runs the queued statement: the transaction opens

    await writable_again(docs)
    assert (await docs.find_one({"_id": "x"}) or {})["n"] == 10  # the cut-off one never committed
    assert killed("aborted") == aborted + 1


async def test_a_transaction_whose_connection_was_cut_is_aborted(mongo: RestartableMongo) -> None:
    proxy = SeverableProxy(mongo.url)
    await proxy.start()
    client = client_of(f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true")
    docs = client["test_sessions"][f"docs_{secrets.token_hex(4)}"]
    try:
        await docs.insert_one({"_id": "x", "n": 0})
        with pytest.raises(PyMongoError):
            async with (
                transaction_session(client) as session,
                await session.start_transaction(),
            ):
                await docs.update_one({"_id": "x"}, {"$inc": {"n": 1}}, session=session)
                proxy.sever()  # the server keeps the open transaction; the client loses it
                await docs.update_one({"_id": "x"}, {"$inc": {"n": 1}}, session=session)

        await writable_again(docs)
        assert (await docs.find_one({"_id": "x"}) or {})["n"] == 10
    finally:
        await docs.drop()
        await client.close()
        await proxy.close()


async def test_a_refused_write_is_not_an_outage(
    client: AsyncMongoClient[Any], docs: AsyncCollection[Any]
) -> None:
    aborted, expired = killed("aborted"), killed("expired")
    with pytest.raises(DuplicateKeyError):
        async with transaction_session(client) as session, await session.start_transaction():
            await docs.insert_one({"_id": "x"}, session=session)
    await asyncio.sleep(0.2)
    assert (killed("aborted"), killed("expired")) == (aborted, expired)


def session_id() -> dict[str, Any]:
    return {"id": Binary(secrets.token_bytes(16), 4)}


async def test_sessions_are_killed_once_the_stopped_server_answers(
    mongo: RestartableMongo, client: AsyncMongoClient[Any]
) -> None:
    abandoned = AbandonedTransactions(client, retry_s=0.1, again_s=0.1, give_up_s=60.0)
    aborted = killed("aborted")
    mongo.stop()
    try:
        abandoned.note(session_id())
        abandoned.note(session_id())
        await asyncio.sleep(1.5)  # attempts fail while the server is down
        assert abandoned.pending == 2
    finally:
        mongo.start()

    async def all_killed() -> bool:
        return abandoned.pending == 0

    await eventually(all_killed, "both sessions killed twice", within=20)
    assert killed("aborted") == aborted + 2
    await abandoned.close()


async def test_a_session_the_server_never_answers_for_is_forgotten(
    mongo: RestartableMongo, client: AsyncMongoClient[Any]
) -> None:
    abandoned = AbandonedTransactions(
        client, retry_s=0.1, again_s=0.1, give_up_s=0.5, max_sessions=2
    )
    expired = killed("expired")
    mongo.stop()
    try:
        for _ in range(3):  # the first is dropped at once: at most two are kept
            abandoned.note(session_id())
        assert abandoned.pending == 2
        assert killed("expired") == expired + 1

        async def forgotten() -> bool:
            return abandoned.pending == 0

        await eventually(forgotten, "the sessions forgotten after give_up_s", within=10)
        assert killed("expired") == expired + 3
    finally:
        await abandoned.close()
        mongo.start()


def test_durations_and_bound_are_checked() -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(connect=False)
    with pytest.raises(ValueError, match="seconds"):
        AbandonedTransactions(client, retry_s=0)
    with pytest.raises(ValueError, match="max_sessions"):
        AbandonedTransactions(client, max_sessions=0)


async def in_transaction_cut_at_commit(
    mongo: RestartableMongo,
    monkeypatch: pytest.MonkeyPatch,
    cut: Callable[[], None],
    repair: Callable[[], None],
) -> tuple[str | BaseException, int]:
    """Run `in_transaction` (time limit 2 s) incrementing document x, with the server cut off
    (`cut`) after the statement and repaired 3 s later, while the commit's answer is awaited:
    (what `in_transaction` returned or raised, the document's n afterwards)."""
    monkeypatch.setattr(mongo_module, "OPERATION_TIMEOUT_S", 2.0)
    client = connect(mongo.url, app_name="test")
    docs = client["test_sessions"][f"docs_{secrets.token_hex(4)}"]
    await docs.insert_one({"_id": "x", "n": 0})
    loop = asyncio.get_running_loop()

    async def work(session: AsyncClientSession) -> str:
        await docs.update_one({"_id": "x"}, {"$inc": {"n": 1}}, session=session)
        await asyncio.to_thread(cut)
        loop.call_later(3.0, lambda: loop.run_in_executor(None, repair))
        return "done"

    outcome: str | BaseException
    try:
        outcome = await in_transaction(client, work)
    except PyMongoError as exc:
        outcome = exc
    try:
        await answering_again(client)
        return outcome, (await docs.find_one({"_id": "x"}) or {})["n"]
    finally:
        await docs.drop()
        await client.close()


def commit_checks(outcome: str) -> float:
    sample = "mongo_commit_outcome_checks_total"
    return REGISTRY.get_sample_value(sample, {"outcome": outcome}) or 0.0


async def test_a_commit_the_time_limit_cut_off_but_the_server_stored_succeeds(
    mongo: RestartableMongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = commit_checks("stored")
    # The commit waits on the hung server past the time limit; the server stores it on resuming.
    outcome, n = await in_transaction_cut_at_commit(mongo, monkeypatch, mongo.pause, mongo.resume)
    assert (outcome, n) == ("done", 1)
    assert commit_checks("stored") == stored + 1


async def test_a_commit_the_server_lost_is_an_outage_with_nothing_stored(
    mongo: RestartableMongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_stored = commit_checks("not_stored")
    # Stopped before the commit: the restarted server no longer has the transaction.
    outcome, n = await in_transaction_cut_at_commit(mongo, monkeypatch, mongo.stop, mongo.start)
    assert isinstance(outcome, PyMongoError) and database_unavailable(outcome), repr(outcome)
    assert not isinstance(outcome, CommitOutcomeUnknown)  # known: nothing stored
    assert n == 0
    assert commit_checks("not_stored") == not_stored + 1


async def test_a_commit_unanswered_through_the_grace_is_said_to_be_unknown(
    mongo: RestartableMongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = commit_checks("unknown")
    monkeypatch.setattr(mongo_module, "COMMIT_GRACE_S", 0.5)  # over before the server resumes
    outcome, n = await in_transaction_cut_at_commit(mongo, monkeypatch, mongo.pause, mongo.resume)
    assert isinstance(outcome, CommitOutcomeUnknown), repr(outcome)
    assert n == 1  # stored after all, as the 503's detail warns it may be
    assert commit_checks("unknown") == unknown + 1
