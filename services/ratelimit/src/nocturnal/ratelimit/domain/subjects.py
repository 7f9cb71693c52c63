"""Who a check counts against, and bounded tier overrides of a subject."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nocturnal.shared.clock import rfc3339
from nocturnal.shared.event_payloads import TierChangedData
from nocturnal.shared.ratelimit.policies import Tier, ip_group, limit_key

SUBJECT_PATTERN = r"^[A-Za-z0-9._:@+=-]{1,128}$"
TIER_KEY_PREFIX = "rate-limit-tier"
MAX_TIER_TTL_S = 24 * 60 * 60


def tier_key(policy: str, subject: str) -> str:
    """Redis key holding the tier override of `subject` under `policy`."""
    return f"{TIER_KEY_PREFIX}:{policy}:{subject}"


def override_subject(subject: str) -> str:
    """The subject an override names: an IP address stands for its group (IPv6 by /64)."""
    try:
        ipaddress.ip_address(subject)
    except ValueError:
        return subject
    return ip_group(subject)


@dataclass(frozen=True)
class Subject:
    """A checked client: its IP address and, when the caller knows one, a user or subject name.

    The counter is per (IP group, name); the tier belongs to the name alone, so a user made
    strict is strict from every address, or to the IP group for anonymous clients.
    """

    ip: str
    name: str | None

    @classmethod
    def of(cls, ip: str, *, user_id: str | None, subject: str | None) -> Subject:
        """The checked client; an explicit `subject` (e.g. an e-mail hash) wins over `user_id`."""
        return cls(ip=ip, name=subject or user_id)

    def counter_key(self, policy: str) -> str:
        """Redis key of the sliding-window log (DESIGN §1 format)."""
        return limit_key(policy, self.ip, self.name)

    def tier_key(self, policy: str) -> str:
        """Redis key of the tier override that applies to this client."""
        return tier_key(policy, self.name or ip_group(self.ip))


@dataclass(frozen=True)
class TierChange:
    """An override: `subject` is on `tier` under `policy` for `ttl_s` seconds, until `until`."""

    policy: str
    subject: str
    tier: Tier
    reason: str
    ttl_s: int
    until: datetime

    @classmethod
    def starting(
        cls, now: datetime, *, policy: str, subject: str, tier: Tier, ttl_s: int, reason: str
    ) -> TierChange:
        """The override of `subject` from `now` (aware) for `ttl_s` seconds (1 s .. 24 h).

        Raises:
            ValueError: `ttl_s` is out of range.
        """
        if not 1 <= ttl_s <= MAX_TIER_TTL_S:
            raise ValueError(f"ttl_s must be 1..{MAX_TIER_TTL_S}")
        until = now.replace(microsecond=0) + timedelta(seconds=ttl_s)
        return cls(policy, override_subject(subject), tier, reason, ttl_s, until)

    @property
    def key(self) -> str:
        """Redis key of the override."""
        return tier_key(self.policy, self.subject)

    def to_json(self) -> dict[str, Any]:
        """The `ratelimit.tier_changed` event data and API response (RFC 3339 `until`)."""
        return TierChangedData(
            policy=self.policy,
            subject=self.subject,
            tier=self.tier.value,
            reason=self.reason,
            until=rfc3339(self.until),
        ).to_data()
