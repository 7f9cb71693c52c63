"""The ratelimit use cases on in-memory stores: checks (shared or degraded), overrides and the
adaptive tier from login events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from nocturnal.ratelimit.domain import abuse
from nocturnal.ratelimit.service_layer import CostAboveLimit, StoreUnavailable, UnknownPolicy
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Tier, limit_key
from ratelimit.fakes import FakeRatelimit

IP = "203.0.113.7"
AUTH = DEFAULT_POLICIES["auth"]


@pytest.fixture
def rl() -> FakeRatelimit:
    return FakeRatelimit()


async def test_unknown_policies_and_impossible_costs_are_refused(rl: FakeRatelimit) -> None:
    with pytest.raises(UnknownPolicy):
        await rl.limiter.check("no-such-policy", IP)
    with pytest.raises(CostAboveLimit) as caught:
        await rl.limiter.check("auth", IP, cost=AUTH.normal + 1)
    assert caught.value.limit == AUTH.normal
    assert rl.counters.keys == []


async def test_a_check_counts_against_the_explicit_subject_before_the_user(
    rl: FakeRatelimit,
) -> None:
    decision = await rl.limiter.check("auth", IP, user_id="u1", subject="email-hash")
    assert (decision.allowed, decision.degraded, decision.remaining) == (True, False, 4)
    assert rl.counters.keys == [limit_key("auth", IP, "email-hash")]


async def test_without_the_store_each_instance_allows_its_share_of_the_limit() -> None:
    rl = FakeRatelimit(instances=2)
    rl.counters.down = True
    decisions = [await rl.limiter.check("auth", IP, user_id="u1") for _ in range(4)]
    assert all(d.degraded for d in decisions)
    assert (decisions[0].limit, decisions[0].remaining) == (5, 2)  # ceil(5 / 2) = 3 here
    assert [d.allowed for d in decisions] == [True, True, True, False]
    rl.counters.down = False
    rl.seconds.now += 1.0  # the breaker's next probe
    assert not (await rl.limiter.check("auth", IP, user_id="u1")).degraded


async def test_after_one_store_failure_checks_skip_the_store_until_a_probe_finds_it() -> None:
    rl = FakeRatelimit()
    rl.counters.down = True
    with capture_logs() as logs:
        assert (await rl.limiter.check("auth", IP, user_id="u1")).degraded
        rl.counters.down = False  # back, but the breaker is open: no check goes to the store yet
        decisions = [await rl.limiter.check("auth", IP, user_id="u2") for _ in range(3)]
        assert all(d.degraded for d in decisions)
        assert rl.counters.keys == []
        rl.seconds.now += 1.0
        assert not (await rl.limiter.check("auth", IP, user_id="u2")).degraded
        assert not (await rl.limiter.check("auth", IP, user_id="u2")).degraded
    changes = [e["event"] for e in logs if e["log_level"] in {"warning", "info"}]
    assert changes == ["using memory store (degraded)", "using Redis store (distributed)"]


async def test_readiness_reports_the_breaker_and_probes_an_idle_store() -> None:
    rl = FakeRatelimit()
    assert await rl.limiter.store_ready()
    rl.counters.down = True
    assert not await rl.limiter.store_ready()  # found by the readiness check itself
    rl.counters.down = False
    assert not await rl.limiter.store_ready()  # open: no probe before open_s
    rl.seconds.now += 1.0
    assert await rl.limiter.store_ready()


async def test_an_override_is_stored_then_announced_for_the_ip_group(rl: FakeRatelimit) -> None:
    change = await rl.tiers.override(AUTH, "2001:db8::1", Tier.STRICT, ttl_s=60, reason="abuse")
    assert change.subject == "2001:db8::/64"
    assert change.until == rl.clock.now.replace(microsecond=0) + timedelta(seconds=60)
    assert rl.tier_store.overrides == {change.key: Tier.STRICT}
    [event] = rl.announcer.announced
    assert (event.name, event.subject, event.data) == (
        "ratelimit.tier_changed",
        "2001:db8::/64",
        change.to_json(),
    )


async def test_an_override_without_the_store_changes_and_announces_nothing(
    rl: FakeRatelimit,
) -> None:
    rl.tier_store.down = True
    with pytest.raises(StoreUnavailable):
        await rl.tiers.override(AUTH, "u1", Tier.STRICT, ttl_s=60, reason="x")
    assert rl.announcer.announced == []


async def test_failed_logins_make_the_subject_strict_once_and_a_success_forgets_them(
    rl: FakeRatelimit,
) -> None:
    for n in range(abuse.FAILURES_BEFORE_STRICT - 1):
        await rl.tiers.failed_login("h1", f"e{n}")
    await rl.tiers.login("h1")
    assert "h1" not in rl.tier_store.failures
    for n in range(abuse.FAILURES_BEFORE_STRICT + 2):
        await rl.tiers.failed_login("h1", f"f{n}")
    await rl.tiers.failed_login("h1", "f0")  # a redelivery counts once
    [event] = rl.announcer.announced
    assert (event.data["tier"], event.data["reason"]) == ("strict", abuse.REASON)
