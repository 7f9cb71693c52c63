"""Limit policies, tiers, the keys a check counts against, and a check's decision. Pure: no I/O
library is imported here."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

KEY_PREFIX = "rate-limit"


class Tier(StrEnum):
    """`strict` is the same counter with the lower limit, for subjects seen abusing."""

    NORMAL = "normal"
    STRICT = "strict"


@dataclass(frozen=True)
class Policy:
    """A limit: at most `normal` (or `strict`) units in any `window_s`-second span."""

    name: str
    window_s: int
    normal: int
    strict: int

    def limit(self, tier: Tier) -> int:
        """The unit limit of `tier`."""
        return self.strict if tier is Tier.STRICT else self.normal


DEFAULT_POLICIES: Mapping[str, Policy] = {
    "auth": Policy("auth", window_s=15 * 60, normal=5, strict=3),
    "api": Policy("api", window_s=10 * 60, normal=100, strict=50),
    "upload": Policy("upload", window_s=60 * 60, normal=10, strict=5),
}


MAX_WINDOW_S = 7 * 24 * 60 * 60
# The Redis log keeps one member per unit, so the limit bounds the memory of one counter.
MAX_LIMIT = 10_000

PolicyName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class PolicyLimits(BaseModel):
    """A configured policy: at most `normal` (or `strict`) units in any `window_s` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: int = Field(ge=1, le=MAX_WINDOW_S)
    normal: int = Field(ge=1, le=MAX_LIMIT)
    strict: int = Field(ge=1, le=MAX_LIMIT)

    @model_validator(mode="after")
    def _strict_is_not_looser(self) -> PolicyLimits:
        if self.strict > self.normal:
            raise ValueError("strict must not be above normal")
        return self


def policy_table(overrides: Mapping[str, PolicyLimits]) -> dict[str, Policy]:
    """`DEFAULT_POLICIES` with `overrides` replacing or adding policies by name.

    The one way the table is built, by the ratelimit service and by its callers' fallback
    alike, from the same `RATELIMIT_POLICIES` configuration.
    """
    table = dict(DEFAULT_POLICIES)
    for name, limits in overrides.items():
        table[name] = Policy(
            name, window_s=limits.window_s, normal=limits.normal, strict=limits.strict
        )
    return table


def ip_group(ip: str) -> str:
    """The address a limit counts against: IPv4 as is, IPv6 grouped by its /64 network."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def subject_hash(value: str) -> str:
    """A short stable hash (SHA-256, 16 hex chars) naming a subject without storing it."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def limit_key(policy: str, ip: str, subject: str | None) -> str:
    """Redis key `rate-limit:{policy}:{ip group}-{subject or "anon"}` (DESIGN §1)."""
    return f"{KEY_PREFIX}:{policy}:{ip_group(ip)}-{subject or 'anon'}"


class Decision(BaseModel):
    """Outcome of one check (the ratelimit service's `/v1/check` response).

    Units are request units; `reset_s` is seconds until the window frees all used units,
    `retry_after_s` seconds until a denied request could pass (0 when allowed). `lease` is the
    number of units granted beyond the check's cost as a quota lease (DESIGN §1): already
    counted (and not in `remaining`), to be spent by the caller within the lease's lifetime.
    """

    allowed: bool
    policy: str
    tier: Tier
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int
    window_s: int
    degraded: bool = False
    lease: int = 0
