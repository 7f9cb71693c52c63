"""Adaptive limits: repeated failed logins put the e-mail's subject on the strict tier."""

from __future__ import annotations

from datetime import datetime

from nocturnal.ratelimit.domain.subjects import TierChange
from nocturnal.shared.ratelimit.policies import Tier

POLICY = "auth"
FAILURES_BEFORE_STRICT = 5
FAILURE_WINDOW_S = 15 * 60
STRICT_FOR_S = 60 * 60
REASON = "failed_logins"


def failures_key(subject: str) -> str:
    """Redis key counting recent failed logins of `subject` (an e-mail hash)."""
    return f"rate-limit-failures:{POLICY}:{subject}"


def strict_after_failures(now: datetime, subject: str) -> TierChange:
    """The change made when `subject` reaches `FAILURES_BEFORE_STRICT` failed logins."""
    return TierChange.starting(
        now, policy=POLICY, subject=subject, tier=Tier.STRICT, ttl_s=STRICT_FOR_S, reason=REASON
    )
