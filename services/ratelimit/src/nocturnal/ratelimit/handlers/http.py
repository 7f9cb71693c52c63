"""HTTP handlers: checks, the policy table and tier overrides."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime

from aiohttp import web
from pydantic import Field, field_validator

from nocturnal.ratelimit.adapters.limiter import LIMITER
from nocturnal.ratelimit.adapters.redis_store import StoreUnavailable
from nocturnal.ratelimit.adapters.tiers import TIER_OVERRIDES
from nocturnal.ratelimit.domain.subjects import MAX_TIER_TTL_S, SUBJECT_PATTERN, Subject, TierChange
from nocturnal.shared.http.app import SETTINGS, json_response
from nocturnal.shared.http.request import RequestModel, read_json
from nocturnal.shared.logging import get_logger
from nocturnal.shared.problems import Problem, not_found, validation_problem
from nocturnal.shared.ratelimit.policies import Policy, Tier

log = get_logger("ratelimit")


class CheckRequest(RequestModel):
    """`POST /v1/check` body: who is checked against which policy, and how many units."""

    policy: str = Field(min_length=1, max_length=64)
    ip: str = Field(max_length=64)
    user_id: str | None = Field(default=None, pattern=SUBJECT_PATTERN)
    subject: str | None = Field(default=None, pattern=SUBJECT_PATTERN)
    cost: int = Field(default=1, ge=1)
    request_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,128}$")

    @field_validator("ip")
    @classmethod
    def _is_an_address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("must be an IPv4 or IPv6 address") from None


class TierRequest(RequestModel):
    """`POST /v1/subjects/{policy}/{subject}/tier` body: a bounded override."""

    tier: Tier
    ttl_s: int = Field(ge=1, le=MAX_TIER_TTL_S)
    reason: str = Field(min_length=1, max_length=500)


def _policy(request: web.Request, name: str) -> Policy:
    policy = request.app[LIMITER].policies.get(name)
    if policy is None:
        raise not_found(f"no rate-limit policy {name!r}")
    return policy


async def check(request: web.Request) -> web.Response:
    """Count a request against a policy and say whether it is allowed."""
    body = await read_json(
        request, CheckRequest, max_bytes=request.app[SETTINGS].max_json_body_bytes
    )
    policy = _policy(request, body.policy)
    if body.cost > policy.normal:
        raise validation_problem(
            [{"field": "cost", "message": f"must be at most the limit {policy.normal}"}]
        )
    subject = Subject.of(body.ip, user_id=body.user_id, subject=body.subject)
    decision = await request.app[LIMITER].check(policy, subject, body.cost)
    if not decision.allowed:
        log.info(
            "rate limited",
            policy=policy.name,
            key=subject.counter_key(policy.name),
            tier=decision.tier.value,
            caller_request_id=body.request_id,
        )
    return json_response(decision)


async def list_policies(request: web.Request) -> web.Response:
    """The policy table."""
    policies = sorted(request.app[LIMITER].policies.values(), key=lambda p: p.name)
    items = [
        {"name": p.name, "window_s": p.window_s, "normal": p.normal, "strict": p.strict}
        for p in policies
    ]
    return json_response({"items": items})


async def set_tier(request: web.Request) -> web.Response:
    """Put a subject on the strict (or normal) tier of a policy for a bounded time."""
    policy = _policy(request, request.match_info["policy"])
    raw_subject = request.match_info["subject"]
    if not re.fullmatch(SUBJECT_PATTERN, raw_subject):
        raise validation_problem(
            [{"field": "subject", "message": "must be 1-128 of A-Z a-z 0-9 . _ : @ + = -"}]
        )
    body = await read_json(
        request, TierRequest, max_bytes=request.app[SETTINGS].max_json_body_bytes
    )
    change = TierChange.starting(
        datetime.now(UTC),
        policy=policy.name,
        subject=raw_subject,
        tier=body.tier,
        ttl_s=body.ttl_s,
        reason=body.reason,
    )
    try:
        await request.app[TIER_OVERRIDES].apply(change)
    except StoreUnavailable:
        raise Problem(
            503,
            "the rate-limit store is unavailable",
            slug="store-unavailable",
            headers={"Retry-After": "1"},
        ) from None
    return json_response(change.to_json())
