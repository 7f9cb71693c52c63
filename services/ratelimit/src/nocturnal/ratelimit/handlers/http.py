"""HTTP handlers: checks, the policy table and tier overrides."""

from __future__ import annotations

import ipaddress
import re

from aiohttp import web
from pydantic import ConfigDict, Field, field_validator
from typing_extensions import TypedDict

from nocturnal.ratelimit.domain.subjects import MAX_TIER_TTL_S, SUBJECT_PATTERN
from nocturnal.ratelimit.keys import LIMITER, TIERS
from nocturnal.shared.http.app import SETTINGS, json_response
from nocturnal.shared.http.request import RequestModel, read_json
from nocturnal.shared.problems import validation_problem
from nocturnal.shared.ratelimit.policies import Tier

# Quota leases (DESIGN §1): short, so a tier change or an operator's override takes effect soon.
MAX_LEASE_UNITS = 1000
MAX_LEASE_MS = 5000
SUBJECT_RULE = "must be 1-128 of A-Z a-z 0-9 . _ : @ + = -"


class CheckRequest(RequestModel):
    """`POST /v1/check` body: who is checked against which policy, and how many units."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"policy": "api", "ip": "203.0.113.7", "user_id": "a1b2c3", "cost": 1}]
        }
    )

    policy: str = Field(min_length=1, max_length=64)
    ip: str = Field(max_length=64)
    user_id: str | None = Field(default=None, pattern=SUBJECT_PATTERN)
    subject: str | None = Field(default=None, pattern=SUBJECT_PATTERN)
    cost: int = Field(default=1, ge=1)
    lease: int = Field(default=0, ge=0, le=MAX_LEASE_UNITS)
    lease_ms: int = Field(default=0, ge=0, le=MAX_LEASE_MS)
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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"tier": "strict", "ttl_s": 3600, "reason": "credential stuffing"}]
        }
    )

    tier: Tier
    ttl_s: int = Field(ge=1, le=MAX_TIER_TTL_S)
    reason: str = Field(min_length=1, max_length=500)


class PolicyView(TypedDict):
    """A policy: at most `normal` (or `strict`) units in any `window_s` seconds."""

    name: str
    window_s: int
    normal: int
    strict: int


class PoliciesView(TypedDict):
    """The policy table, by name."""

    items: list[PolicyView]


async def check(request: web.Request) -> web.Response:
    """Count a request against a policy and say whether it is allowed."""
    body = await read_json(
        request, CheckRequest, max_bytes=request.app[SETTINGS].max_json_body_bytes
    )
    decision = await request.app[LIMITER].check(
        body.policy,
        body.ip,
        user_id=body.user_id,
        subject=body.subject,
        cost=body.cost,
        request_id=body.request_id,
        lease=body.lease,
        lease_ms=body.lease_ms,
    )
    # Encoded by pydantic-core straight to bytes: this is the hot path of every caller.
    return web.Response(body=decision.model_dump_json().encode(), content_type="application/json")


async def list_policies(request: web.Request) -> web.Response:
    """The policy table."""
    policies = sorted(request.app[LIMITER].policies.values(), key=lambda p: p.name)
    body: PoliciesView = {
        "items": [
            {"name": p.name, "window_s": p.window_s, "normal": p.normal, "strict": p.strict}
            for p in policies
        ]
    }
    return json_response(body)


async def set_tier(request: web.Request) -> web.Response:
    """Put a subject on the strict (or normal) tier of a policy for a bounded time."""
    policy = request.app[LIMITER].policy(request.match_info["policy"])
    subject = request.match_info["subject"]
    if not re.fullmatch(SUBJECT_PATTERN, subject):
        raise validation_problem([{"field": "subject", "message": SUBJECT_RULE}])
    body = await read_json(
        request, TierRequest, max_bytes=request.app[SETTINGS].max_json_body_bytes
    )
    change = await request.app[TIERS].override(
        policy, subject, body.tier, ttl_s=body.ttl_s, reason=body.reason
    )
    return json_response(change.to_json())
