"""The ratelimit service's client (`POST /v1/check`), falling back to local decisions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from pydantic import ValidationError

from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import RATELIMIT_DEGRADED
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Decision, Policy, limit_key
from nocturnal.shared.ratelimit.sliding_window import SlidingWindowLog, decide_locally

log = get_logger("ratelimit")


class RateLimitClient:
    """Client of the ratelimit service's `POST /v1/check`.

    Times out after the session's timeout (keep it small, e.g. 0.25 s); when the service is
    unreachable or answers an error, decides from a local `SlidingWindowLog` with the same
    policies (`degraded: true`, a log line and a metric).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        service: str,
        timeout_s: float = 0.25,
        policies: Mapping[str, Policy] = DEFAULT_POLICIES,
    ) -> None:
        self._session = session
        self._url = f"{base_url.rstrip('/')}/v1/check"
        self._service = service
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._policies = policies
        self._fallback = SlidingWindowLog()

    async def check(
        self,
        policy: str,
        ip: str,
        *,
        user_id: str | None = None,
        subject: str | None = None,
        cost: int = 1,
        request_id: str | None = None,
    ) -> Decision:
        """Count one request of `policy` for (ip, subject or user_id) and return the decision."""
        body: dict[str, Any] = {"policy": policy, "ip": ip, "cost": cost}
        for name, value in (("user_id", user_id), ("subject", subject), ("request_id", request_id)):
            if value:
                body[name] = value
        try:
            async with self._session.post(self._url, json=body, timeout=self._timeout) as resp:
                if resp.status == 200:
                    return Decision.model_validate(await resp.json())
                reason = f"status {resp.status}"
        except (aiohttp.ClientError, TimeoutError, ValidationError, ValueError) as exc:
            reason = repr(exc)
        log.warning("ratelimit service unavailable, deciding locally", policy=policy, error=reason)
        RATELIMIT_DEGRADED.labels(self._service, policy).inc()
        key = limit_key(policy, ip, subject or user_id)
        return decide_locally(self._fallback, self._policies[policy], key, cost=cost)
