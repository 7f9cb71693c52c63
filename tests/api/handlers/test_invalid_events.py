"""The api app's consumer on the real RabbitMQ: an event whose data is off its schema goes to
api's dead-letter queue with the reason, and the next event is still applied."""

from __future__ import annotations

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from polling import eventually

from api.conftest import Publish
from api.support import CallerFactory, register
from nocturnal.shared.events.dead_letter import DEATH_DETAIL_HEADER, DEATH_REASON_HEADER


async def next_dead_letter(amqp: AbstractRobustConnection, queue: str) -> AbstractIncomingMessage:
    taken: list[AbstractIncomingMessage] = []
    async with amqp.channel() as channel:
        dead_letters = await channel.get_queue(queue, ensure=False)

        async def arrived() -> bool:
            message = await dead_letters.get(fail=False)
            if message is not None:
                await message.ack()
                taken.append(message)
            return bool(taken)

        await eventually(arrived, f"a message in {queue}")
    return taken[0]


async def test_an_off_schema_event_is_dead_lettered_with_its_reason_and_the_next_applied(
    caller: CallerFactory,
    publish: Publish,
    amqp: AbstractRobustConnection,
    events_exchange: str,
) -> None:
    nurse = caller("nurse")
    invalid = await publish("user.registered", {"user_id": nurse.user_id, "role": "nurse"})

    await register(publish, nurse, "Amara Okafor")  # waits for the profile

    dead = await next_dead_letter(amqp, f"{events_exchange}.api.dlq")
    assert dead.message_id == invalid.id
    assert dead.headers[DEATH_REASON_HEADER] == "invalid-payload"
    assert "data.email: Field required" in str(dead.headers[DEATH_DETAIL_HEADER])
