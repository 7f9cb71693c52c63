"""Who a check counts against, and tier overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nocturnal.ratelimit.domain.subjects import (
    MAX_TIER_TTL_S,
    Subject,
    TierChange,
    override_subject,
    tier_key,
)
from nocturnal.shared.ratelimit.policies import Tier


def test_an_explicit_subject_wins_over_the_user_id() -> None:
    assert Subject.of("192.0.2.1", user_id="u1", subject="mailhash").name == "mailhash"
    assert Subject.of("192.0.2.1", user_id="u1", subject=None).name == "u1"
    assert Subject.of("192.0.2.1", user_id=None, subject=None).name is None


def test_the_counter_key_follows_the_design_format() -> None:
    assert Subject("192.0.2.1", "u1").counter_key("auth") == "rate-limit:auth:192.0.2.1-u1"
    assert Subject("2001:db8::1", None).counter_key("api") == "rate-limit:api:2001:db8::/64-anon"


def test_the_tier_belongs_to_the_name_or_for_anonymous_clients_to_the_ip_group() -> None:
    assert Subject("192.0.2.1", "u1").tier_key("auth") == "rate-limit-tier:auth:u1"
    assert Subject("192.0.2.2", "u1").tier_key("auth") == "rate-limit-tier:auth:u1"
    assert Subject("2001:db8::1", None).tier_key("api") == "rate-limit-tier:api:2001:db8::/64"


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        ("u1", "u1"),
        ("0123456789abcdef", "0123456789abcdef"),
        ("192.0.2.9", "192.0.2.9"),
        ("::ffff:192.0.2.9", "192.0.2.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ],
)
def test_an_override_of_an_address_names_its_group(raw: str, subject: str) -> None:
    assert override_subject(raw) == subject


def test_a_tier_change_lasts_its_ttl_and_reads_as_the_event_data() -> None:
    now = datetime(2026, 11, 30, 22, 15, 7, 123456, tzinfo=UTC)
    change = TierChange.starting(
        now, policy="auth", subject="2001:db8::7", tier=Tier.STRICT, ttl_s=3600, reason="abuse"
    )
    assert change.key == tier_key("auth", "2001:db8::/64")
    assert change.to_json() == {
        "policy": "auth",
        "subject": "2001:db8::/64",
        "tier": "strict",
        "reason": "abuse",
        "until": "2026-11-30T23:15:07.000Z",
    }


@pytest.mark.parametrize("ttl_s", [0, -1, MAX_TIER_TTL_S + 1])
def test_a_tier_change_is_bounded_in_time(ttl_s: int) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        TierChange.starting(
            datetime.now(UTC), policy="auth", subject="u", tier=Tier.STRICT, ttl_s=ttl_s, reason="x"
        )
