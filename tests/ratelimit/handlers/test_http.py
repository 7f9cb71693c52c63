"""The ratelimit HTTP API through the real app on the real Redis and RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from typing import Any

import aio_pika
import pytest
from redis.asyncio import Redis
from timestamps import is_rfc3339_millis

from nocturnal.ratelimit.app import create_app
from nocturnal.shared.events import parse
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Decision, Policy
from ratelimit.support import Client, SettingsFactory

IP = "192.0.2.10"


async def check(client: Client, body: dict[str, Any]) -> Decision:
    resp = await client.post("/v1/check", json=body)
    assert resp.status == 200, await resp.text()
    return Decision.model_validate(await resp.json())


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = await resp.json(content_type=None)
    assert body["status"] == status
    if status == 401:  # RFC 9110 §15.5.2: every 401 carries a challenge
        assert resp.headers["WWW-Authenticate"].startswith("Bearer "), resp.headers
    return body


async def test_a_check_answers_the_shared_decision_and_counts(
    client: Client, short: Policy
) -> None:
    resp = await client.post("/v1/check", json={"policy": short.name, "ip": IP, "user_id": "u1"})
    assert resp.status == 200
    body = await resp.json()
    assert body == {
        "allowed": True,
        "policy": short.name,
        "tier": "normal",
        "limit": 3,
        "remaining": 2,
        "reset_s": 2,
        "retry_after_s": 0,
        "window_s": 2,
        "degraded": False,
        "lease": 0,
    }


async def test_exactly_the_limit_passes_then_the_check_is_denied(
    client: Client, short: Policy
) -> None:
    body = {"policy": short.name, "ip": IP, "subject": "mail-hash", "request_id": "r-1"}
    decisions = [await check(client, body) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 1 <= decisions[-1].retry_after_s <= 2


async def test_fifty_concurrent_checks_allow_exactly_the_limit(
    client: Client, wide: Policy
) -> None:
    body = {"policy": wide.name, "ip": IP}
    decisions = await asyncio.gather(*(check(client, body) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    assert not any(d.degraded for d in decisions)


async def test_the_counter_is_keyed_by_ip_group_and_subject_with_a_ttl(
    client: Client, wide: Policy, redis: Redis
) -> None:
    await check(client, {"policy": wide.name, "ip": "2001:db8:5:6::1", "user_id": "u9"})
    key = f"rate-limit:{wide.name}:2001:db8:5:6::/64-u9"
    assert 0 < await redis.pttl(key) <= 60_000
    await check(client, {"policy": wide.name, "ip": "2001:db8:5:6::2"})
    assert 0 < await redis.pttl(f"rate-limit:{wide.name}:2001:db8:5:6::/64-anon") <= 60_000


async def test_ipv6_clients_of_one_64_share_a_limit_and_other_64s_do_not(
    client: Client, short: Policy
) -> None:
    await check(client, {"policy": short.name, "ip": "2001:db8:1:1::1", "cost": 3})
    same = await check(client, {"policy": short.name, "ip": "2001:db8:1:1:abcd::9"})
    other = await check(client, {"policy": short.name, "ip": "2001:db8:1:2::1"})
    assert (same.allowed, other.allowed) == (False, True)


async def test_a_cost_above_one_counts_that_many_units(client: Client, wide: Policy) -> None:
    decision = await check(client, {"policy": wide.name, "ip": IP, "cost": 10})
    assert (decision.allowed, decision.remaining) == (True, 0)


async def test_the_policy_table_lists_defaults_and_configured_policies(
    client: Client, short: Policy
) -> None:
    resp = await client.get("/v1/policies")
    assert resp.status == 200
    items = {item["name"]: item for item in (await resp.json())["items"]}
    assert items["auth"] == {"name": "auth", "window_s": 900, "normal": 5, "strict": 3}
    assert DEFAULT_POLICIES.keys() <= items.keys()
    assert items[short.name] == {"name": short.name, "window_s": 2, "normal": 3, "strict": 2}


async def test_a_strict_override_lowers_the_limit_and_ends_on_its_own(
    client: Client, short: Policy, redis: Redis
) -> None:
    resp = await client.post(
        f"/v1/subjects/{short.name}/u7/tier",
        json={"tier": "strict", "ttl_s": 2, "reason": "credential stuffing"},
    )
    assert resp.status == 200
    body = await resp.json()
    assert {k: body[k] for k in ("policy", "subject", "tier", "reason")} == {
        "policy": short.name,
        "subject": "u7",
        "tier": "strict",
        "reason": "credential stuffing",
    }
    assert is_rfc3339_millis(body["until"])
    assert 0 < await redis.pttl(f"rate-limit-tier:{short.name}:u7") <= 2000
    strict = await check(client, {"policy": short.name, "ip": IP, "user_id": "u7"})
    assert (strict.tier, strict.limit) == ("strict", 2)
    from_elsewhere = await check(
        client, {"policy": short.name, "ip": "192.0.2.99", "user_id": "u7"}
    )
    assert from_elsewhere.tier == "strict"
    await asyncio.sleep(2.1)
    normal = await check(client, {"policy": short.name, "ip": IP, "user_id": "u7"})
    assert (normal.tier, normal.limit) == ("normal", 3)


async def test_an_override_of_an_address_applies_to_anonymous_clients_of_its_group(
    client: Client, short: Policy
) -> None:
    resp = await client.post(
        f"/v1/subjects/{short.name}/2001:db8:7:7::1/tier",
        json={"tier": "strict", "ttl_s": 60, "reason": "abuse"},
    )
    assert (await resp.json())["subject"] == "2001:db8:7:7::/64"
    anonymous = await check(client, {"policy": short.name, "ip": "2001:db8:7:7::42"})
    signed_in = await check(
        client, {"policy": short.name, "ip": "2001:db8:7:7::42", "user_id": "u"}
    )
    assert (anonymous.tier, signed_in.tier) == ("strict", "normal")


async def test_a_tier_change_is_announced_as_an_event(
    client: Client, short: Policy, amqp_url: str, events_exchange: str
) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(events_exchange, "ratelimit.tier_changed")
        resp = await client.post(
            f"/v1/subjects/{short.name}/u5/tier",
            json={"tier": "strict", "ttl_s": 30, "reason": "manual review"},
        )
        assert resp.status == 200
        message = await queue.get(timeout=5)
        await message.ack()
    event = parse(message.body)
    assert event.type == "nocturnal.ratelimit.tier_changed.v1"
    assert event.source == "/services/ratelimit"
    assert event.data == await resp.json()
    assert set(event.data) == {"policy", "subject", "tier", "reason", "until"}


async def test_with_redis_down_checks_answer_degraded_and_still_limit(
    aiohttp_client: Any, make_settings: SettingsFactory, short: Policy, unused_tcp_port: int
) -> None:
    settings = make_settings(redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0")
    client = await aiohttp_client(create_app(settings))
    body = {"policy": short.name, "ip": IP}
    first = await check(client, body)
    rest = [await check(client, body) for _ in range(3)]
    assert first.degraded and all(d.degraded for d in rest)
    assert [d.allowed for d in [first, *rest]] == [True, True, True, False]
    # Still ready: the degraded mode serves, so the pod must stay in its Service.
    ready = await client.get("/health/ready")
    assert ready.status == 200
    assert (await ready.json())["checks"]["redis"] == "failing"
    metrics = await (await client.get("/metrics")).text()
    assert (
        f'ratelimit_degraded_decisions_total{{policy="{short.name}",service="ratelimit"}} 4.0'
        in metrics
    )
    resp = await client.post(
        f"/v1/subjects/{short.name}/u1/tier", json={"tier": "strict", "ttl_s": 5, "reason": "x"}
    )
    assert (await problem(resp, 503))["title"] == "Service Unavailable"
    assert resp.headers["Retry-After"] == "1"


async def test_degraded_instances_split_the_limit_by_the_instances_dns_finds(
    aiohttp_client: Any, make_settings: SettingsFactory, wide: Policy, unused_tcp_port: int
) -> None:
    instances = len({info[4][0] for info in socket.getaddrinfo("localhost", None)})
    settings = make_settings(
        redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0", ratelimit_peers_dns="localhost"
    )
    client = await aiohttp_client(create_app(settings))
    decision = await check(client, {"policy": wide.name, "ip": IP})
    assert (decision.degraded, decision.limit) == (True, math.ceil(wide.normal / instances))


async def test_readiness_reports_redis_and_the_event_consumer(client: Client) -> None:
    resp = await client.get("/health/ready")
    assert resp.status == 200
    assert (await resp.json())["checks"] == {"redis": "ok", "rabbitmq": "ok"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"policy": "P", "ip": IP, "colour": "red"}, "colour"),
        ({"policy": "P", "ip": IP, "cost": "2"}, "cost"),
        ({"policy": "P", "ip": 3232235786}, "ip"),
        ({"policy": "P", "ip": "192.0.2.300"}, "ip"),
        ({"policy": "P", "ip": "not-an-address"}, "ip"),
        ({"policy": "P", "ip": IP, "cost": 0}, "cost"),
        ({"policy": "P", "ip": IP, "cost": 4}, "cost"),
        ({"policy": "P", "ip": IP, "user_id": "has space"}, "user_id"),
        ({"policy": "P", "ip": IP, "subject": "x" * 129}, "subject"),
        ({"policy": "P", "ip": IP, "request_id": "a/b"}, "request_id"),
        ({"policy": "P"}, "ip"),
        ({"policy": "P", "ip": IP, "user_id": None, "cost": True}, "cost"),
    ],
)
async def test_invalid_checks_are_400_and_count_nothing(
    client: Client, short: Policy, redis: Redis, body: dict[str, Any], field: str
) -> None:
    body = {**body, "policy": short.name}
    result = await problem(await client.post("/v1/check", json=body), 400)
    assert field in [error["field"] for error in result["errors"]]
    assert [key async for key in redis.scan_iter(match=f"*:{short.name}:*")] == []


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"{", 400),
        (b'{"policy": "x", "ip": "192.0.2.1",}', 400),
        (b"[]", 400),
        (b"null", 400),
        (json.dumps({"policy": "x", "ip": "192.0.2.1", "pad": "x" * 70_000}).encode(), 413),
    ],
)
async def test_malformed_empty_and_oversized_bodies_are_4xx_problems(
    client: Client, raw: bytes, status: int
) -> None:
    resp = await client.post("/v1/check", data=raw, headers={"Content-Type": "application/json"})
    await problem(resp, status)


async def test_a_body_that_is_not_json_is_415(client: Client, short: Policy) -> None:
    await problem(await client.post("/v1/check", data=f"policy={short.name}"), 415)


async def test_an_unknown_policy_is_404(client: Client) -> None:
    resp = await client.post("/v1/check", json={"policy": "no-such-policy", "ip": IP})
    assert "no-such-policy" in (await problem(resp, 404))["detail"]
    resp = await client.post(
        "/v1/subjects/no-such-policy/u1/tier", json={"tier": "strict", "ttl_s": 5, "reason": "x"}
    )
    await problem(resp, 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tier": "banned", "ttl_s": 60, "reason": "x"}, "tier"),
        ({"tier": "strict", "ttl_s": 0, "reason": "x"}, "ttl_s"),
        ({"tier": "strict", "ttl_s": 86_401, "reason": "x"}, "ttl_s"),
        ({"tier": "strict", "ttl_s": "60", "reason": "x"}, "ttl_s"),
        ({"tier": "strict", "reason": "x"}, "ttl_s"),
        ({"tier": "strict", "ttl_s": 60, "reason": ""}, "reason"),
        ({"tier": "strict", "ttl_s": 60, "reason": "x", "until": "never"}, "until"),
    ],
)
async def test_invalid_tier_overrides_are_400_and_change_nothing(
    client: Client, short: Policy, redis: Redis, body: dict[str, Any], field: str
) -> None:
    resp = await client.post(f"/v1/subjects/{short.name}/u1/tier", json=body)
    assert field in [error["field"] for error in (await problem(resp, 400))["errors"]]
    assert not await redis.exists(f"rate-limit-tier:{short.name}:u1")


async def test_a_subject_with_characters_outside_the_key_alphabet_is_400(
    client: Client, short: Policy
) -> None:
    resp = await client.post(
        f"/v1/subjects/{short.name}/a%20b/tier", json={"tier": "strict", "ttl_s": 5, "reason": "x"}
    )
    assert (await problem(resp, 400))["errors"][0]["field"] == "subject"
