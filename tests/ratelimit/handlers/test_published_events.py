"""The event ratelimit publishes, read from the broker's audit queue after the real route ran,
matches its catalogue entry and payload model."""

from __future__ import annotations

import aio_pika
import pytest
from event_samples import assert_conforms
from polling import eventually

from nocturnal.shared.events import EVENTS, CloudEvent, parse
from nocturnal.shared.ratelimit.policies import Policy
from ratelimit.support import Client

pytestmark = pytest.mark.integration


async def test_every_event_ratelimit_publishes_matches_its_schema(
    client: Client, short: Policy, amqp_url: str, events_exchange: str
) -> None:
    body = {"tier": "strict", "ttl_s": 2, "reason": "credential stuffing"}
    assert (await client.post(f"/v1/subjects/{short.name}/u7/tier", json=body)).status == 200

    # The audit queue keeps every tier change of the session's exchange: find this test's.
    found: list[CloudEvent] = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        audit = await channel.get_queue(f"{events_exchange}.audit", ensure=False)

        async def announced() -> bool:
            message = await audit.get(fail=False)
            if message is not None:
                await message.ack()
                found.extend(e for e in [parse(message.body)] if e.data.get("policy") == short.name)
            return bool(found)

        await eventually(announced, "the tier change on the audit queue")
    [event] = found

    assert assert_conforms(event) == "ratelimit.tier_changed"
    assert {name for name, spec in EVENTS.items() if spec.publisher == "ratelimit"} == {event.name}
