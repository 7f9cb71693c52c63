"""The dead-letter queue commands against the real RabbitMQ: list, show, replay, purge."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from event_samples import sample_event
from polling import eventually

from nocturnal.ops.cli import Context, build_parser, run
from nocturnal.ops.dead_letters import REPLAYS_HEADER, replay
from nocturnal.shared.events import (
    SUBSCRIPTIONS,
    CloudEvent,
    DirectProcessor,
    EventConsumer,
    EventPublisher,
    ExchangeSpec,
    new_event,
    service_queue,
)
from nocturnal.shared.events.dead_letter import DEATH_QUEUE_HEADER, DEATH_REASON_HEADER

pytestmark = pytest.mark.integration


async def command(
    amqp: AbstractRobustConnection,
    exchange: ExchangeSpec,
    out: io.StringIO,
    *argv: str,
    confirm: Callable[[str], bool] = lambda question: False,
) -> int:
    """Run `python -m nocturnal.ops dlq <argv>` in this process; its exit code."""
    args = build_parser().parse_args(["dlq", *argv])
    return await run(args, Context(amqp, exchange, out, confirm))


async def depth(amqp: AbstractRobustConnection, queue: str) -> int:
    async with amqp.channel() as channel:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def wait_for_depth(amqp: AbstractRobustConnection, queue: str, expected: int) -> None:
    async def reached() -> bool:
        return await depth(amqp, queue) == expected

    await eventually(reached, f"{expected} messages in {queue}")


async def take_all(amqp: AbstractRobustConnection, queue: str) -> list[AbstractIncomingMessage]:
    """Every message of `queue`, consumed."""
    taken = []
    async with amqp.channel() as channel:
        amqp_queue = await channel.get_queue(queue, ensure=False)
        while (message := await amqp_queue.get(fail=False)) is not None:
            await message.ack()
            taken.append(message)
    return taken


async def dead_letters(
    amqp: AbstractRobustConnection, exchange: ExchangeSpec
) -> tuple[CloudEvent, CloudEvent]:
    """Two messages in the api dead-letter queue: one the consumer refused (invalid payload,
    with its reason), one rejected to RabbitMQ (x-death only)."""
    invalid = new_event("user.registered", {"user_id": "u1"}, service="auth")
    rejected = sample_event("user.deleted")
    queue = service_queue(exchange, "api", SUBSCRIPTIONS["api"])

    async def ignore(event: CloudEvent) -> None:
        return None

    consumer = EventConsumer(
        amqp, exchange, queue, DirectProcessor(dict.fromkeys(SUBSCRIPTIONS["api"], ignore))
    )
    await consumer.start()
    async with EventPublisher(amqp, exchange) as publisher:
        await publisher.publish_confirmed(invalid)
        await wait_for_depth(amqp, f"{exchange.name}.api.dlq", 1)
        await consumer.close()
        await publisher.publish_confirmed(rejected)
    await wait_for_depth(amqp, queue.name, 1)
    async with amqp.channel() as channel:
        api = await channel.get_queue(queue.name, ensure=False)
        message = await api.get()
        await message.reject(requeue=False)
    await wait_for_depth(amqp, f"{exchange.name}.api.dlq", 2)
    return invalid, rejected


async def test_list_shows_every_dead_letter_queue_with_its_depth(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    await dead_letters(amqp, ops_exchange)

    assert await command(amqp, ops_exchange, out, "list") == 0

    lines = dict(line.split("\t") for line in out.getvalue().splitlines())
    prefix = ops_exchange.name
    assert lines[f"{prefix}.api.dlq"] == "2 messages"
    assert lines[f"{prefix}.upload.dlq"] == "0 messages"
    assert f"{prefix}.auth.dlq" in lines  # the dead-letter queue of auth's fan-out consumers


async def test_show_gives_each_death_reason_and_keeps_the_messages_in_order(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    invalid, rejected = await dead_letters(amqp, ops_exchange)

    assert await command(amqp, ops_exchange, out, "show", "api", "--body") == 0
    assert await command(amqp, ops_exchange, out, "show", "api") == 0

    shown = out.getvalue()
    assert f"1. {invalid.id} user.registered (nocturnal.user.registered.v1)" in shown
    assert "reason: invalid-payload: data of user.registered does not match its schema" in shown
    assert f"died in {ops_exchange.name}.api at " in shown
    assert f"2. {rejected.id} user.deleted" in shown
    assert f"x-death: rejected x1 from {ops_exchange.name}.api" in shown
    assert invalid.to_json().decode() in shown
    second_show = shown[shown.index("showing", shown.index("showing") + 1) :]
    assert second_show.index(invalid.id) < second_show.index(rejected.id)
    await wait_for_depth(amqp, f"{ops_exchange.name}.api.dlq", 2)  # returned, not consumed


async def test_replay_by_id_sends_that_message_once_to_the_queue_it_died_in(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    invalid, rejected = await dead_letters(amqp, ops_exchange)

    assert await command(amqp, ops_exchange, out, "replay", "api", "--id", rejected.id) == 0

    [replayed] = await take_all(amqp, f"{ops_exchange.name}.api")
    assert replayed.message_id == rejected.id
    assert replayed.body == rejected.to_json()
    assert replayed.type == rejected.type
    assert replayed.headers[REPLAYS_HEADER] == 1
    assert "x-death" not in replayed.headers
    [left] = await take_all(amqp, f"{ops_exchange.name}.api.dlq")
    assert left.message_id == invalid.id
    assert f"replayed {rejected.id}" in out.getvalue()


async def test_a_replayed_message_that_dies_again_keeps_its_event_name(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    invalid, _ = await dead_letters(amqp, ops_exchange)
    queue = service_queue(ops_exchange, "api", SUBSCRIPTIONS["api"])

    async def ignore(event: CloudEvent) -> None:
        return None

    consumer = EventConsumer(
        amqp, ops_exchange, queue, DirectProcessor(dict.fromkeys(SUBSCRIPTIONS["api"], ignore))
    )
    await consumer.start()
    try:
        assert await command(amqp, ops_exchange, out, "replay", "api", "--id", invalid.id) == 0
        await wait_for_depth(amqp, f"{ops_exchange.name}.api.dlq", 2)  # it died once more
    finally:
        await consumer.close()

    assert await command(amqp, ops_exchange, out, "show", "api") == 0
    # Replayed through the default exchange, whose routing key is the queue's name: the event
    # name is still the one it was published with.
    assert f"{invalid.id} user.registered (nocturnal.user.registered.v1)" in out.getvalue()
    assert f"{invalid.id} {ops_exchange.name}.api" not in out.getvalue()


async def test_replay_all_moves_every_message_back_exactly_once(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    invalid, rejected = await dead_letters(amqp, ops_exchange)

    assert await command(amqp, ops_exchange, out, "replay", "api", "--all") == 0

    replayed = await take_all(amqp, f"{ops_exchange.name}.api")
    assert [m.message_id for m in replayed] == [invalid.id, rejected.id]
    assert all(DEATH_REASON_HEADER not in m.headers for m in replayed)
    assert await depth(amqp, f"{ops_exchange.name}.api.dlq") == 0
    assert "2 replayed, 0 kept" in out.getvalue()


async def test_replay_refuses_a_queue_that_does_not_exist_and_keeps_the_message(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    gone = f"{ops_exchange.name}.api.host-1.0badc0de"  # a fan-out queue whose process ended
    event = sample_event("auth.tokens_revoked")
    await publish_dead_letter(amqp, ops_exchange, event, **{DEATH_QUEUE_HEADER: gone})

    assert await command(amqp, ops_exchange, out, "replay", "api", "--all") == 1

    assert f"kept {event.id}: refused: queue '{gone}' does not exist" in out.getvalue()
    [kept] = await take_all(amqp, f"{ops_exchange.name}.api.dlq")
    assert kept.message_id == event.id


async def test_a_replay_the_broker_does_not_confirm_loses_nothing(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    full = f"{ops_exchange.name}.full-{os.getpid()}"
    async with amqp.channel() as channel:
        arguments = {"x-max-length": 0, "x-overflow": "reject-publish"}
        await channel.declare_queue(full, auto_delete=True, arguments=arguments)
        event = sample_event("user.deleted")
        await publish_dead_letter(amqp, ops_exchange, event, **{DEATH_QUEUE_HEADER: full})

        assert await command(amqp, ops_exchange, out, "replay", "api", "--id", event.id) == 1

        assert f"kept {event.id}: not replayed to '{full}': nacked" in out.getvalue()
        [kept] = await take_all(amqp, f"{ops_exchange.name}.api.dlq")
        assert kept.message_id == event.id
        await channel.queue_delete(full)


async def test_a_replay_cut_short_loses_no_message(
    amqp_url: str, amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec
) -> None:
    api = f"{ops_exchange.name}.api"
    events = [sample_event("user.deleted", user_id=f"u{n}") for n in range(40)]
    for event in events:
        await publish_dead_letter(amqp, ops_exchange, event, **{DEATH_QUEUE_HEADER: api})
    connection = await aio_pika.connect(amqp_url)
    replaying = asyncio.create_task(replay(connection, f"{api}.dlq"))

    async def under_way() -> bool:
        return replaying.done() or await depth(amqp, api) >= 5

    await eventually(under_way, "the replay under way")
    replaying.cancel()  # Ctrl-C, mid-replay
    with contextlib.suppress(asyncio.CancelledError):
        await replaying
    await connection.close()

    async def settled() -> bool:  # what was held has gone back to the dead-letter queue
        return await depth(amqp, api) + await depth(amqp, f"{api}.dlq") >= len(events)

    await eventually(settled, "every message back in a queue")
    replayed = [m.message_id for m in await take_all(amqp, api)]
    kept = [m.message_id for m in await take_all(amqp, f"{api}.dlq")]
    assert len(replayed) == len(set(replayed))  # none sent twice
    assert set(replayed) | set(kept) == {event.id for event in events}  # none lost
    assert len(set(replayed) & set(kept)) <= 1  # at most the one between its confirm and ack


async def test_replaying_an_unknown_id_says_so(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    assert await command(amqp, ops_exchange, out, "replay", "api", "--id", "nope") == 1
    assert "no message 'nope'" in out.getvalue()


async def test_a_missing_dead_letter_queue_is_reported(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    assert await command(amqp, ops_exchange, out, "show", "nobody") == 1
    assert f"queue '{ops_exchange.name}.nobody.dlq' does not exist" in out.getvalue()


async def test_purge_deletes_nothing_without_confirmation(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    await dead_letters(amqp, ops_exchange)
    questions: list[str] = []

    def refuse(question: str) -> bool:
        questions.append(question)
        return False

    assert await command(amqp, ops_exchange, out, "purge", "api", confirm=refuse) == 1

    assert questions == [f"Delete every message of {ops_exchange.name}.api.dlq for good?"]
    assert await depth(amqp, f"{ops_exchange.name}.api.dlq") == 2


async def test_purge_deletes_once_confirmed(
    amqp: AbstractRobustConnection, ops_exchange: ExchangeSpec, out: io.StringIO
) -> None:
    invalid, _ = await dead_letters(amqp, ops_exchange)

    assert await command(amqp, ops_exchange, out, "purge", "api", "--id", invalid.id, "--yes") == 0
    # The messages it did not delete go back with a nack (requeue): counted once it lands.
    await wait_for_depth(amqp, f"{ops_exchange.name}.api.dlq", 1)
    assert await command(amqp, ops_exchange, out, "purge", "api", confirm=lambda q: True) == 0

    assert await depth(amqp, f"{ops_exchange.name}.api.dlq") == 0
    assert "deleted 1 message(s)" in out.getvalue()


async def test_the_cli_runs_as_a_module(
    amqp_url: str, ops_exchange: ExchangeSpec, amqp: AbstractRobustConnection
) -> None:
    env = {**os.environ, "AMQP_URL": amqp_url, "EVENTS_EXCHANGE": ops_exchange.name}
    argv = [sys.executable, "-m", "nocturnal.ops", "dlq", "purge", "api"]
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 1  # no terminal to confirm on: refused
    assert b"not confirmed: nothing deleted" in stdout


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        # Found by a fresh-user trial: aiormq's own log line ran into the command's.
        (["dlq", "list"], 1, "cannot reach the broker at amqp://guest:***@nohost.invalid:5672/: "),
        # ... and argparse named the parsing function: "invalid _positive value: 'abc'".
        (["dlq", "show", "api", "--limit", "abc"], 2, "must be a whole number of at least 1"),
    ],
)
async def test_the_cli_reports_a_failure_in_one_line_of_its_own(
    argv: list[str], code: int, message: str
) -> None:
    env = {**os.environ, "AMQP_URL": "amqp://guest:secret@nohost.invalid:5672/"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nocturnal.ops",
        *argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == code
    errors = stderr.decode().splitlines()
    assert [line for line in errors if not line.startswith("usage:")] == [
        next(line for line in errors if message in line)
    ]
    assert "_positive" not in stderr.decode() and "secret" not in stderr.decode()
    assert stdout == b""


async def publish_dead_letter(
    amqp: AbstractRobustConnection, exchange: ExchangeSpec, event: CloudEvent, **headers: Any
) -> None:
    """Put `event` in api's dead-letter queue as a consumer would, with `headers`."""
    message = aio_pika.Message(
        event.to_json(), message_id=event.id, type=event.type, headers=headers
    )
    async with amqp.channel() as channel:
        await channel.default_exchange.publish(message, routing_key=f"{exchange.name}.api.dlq")
