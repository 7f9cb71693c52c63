"""Enforcing a policy on an aiohttp request: the check, the IETF RateLimit header fields, 429."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from nocturnal.shared.background import in_background
from nocturnal.shared.config import PeerSettings
from nocturnal.shared.health import READINESS
from nocturnal.shared.http.app import REQUEST_ID, SERVICE, CleanupContext, add_response_headers
from nocturnal.shared.http.client import HTTP_SESSION
from nocturnal.shared.problems import Problem
from nocturnal.shared.ratelimit.client import RateLimitClient
from nocturnal.shared.ratelimit.instances import LiveInstances
from nocturnal.shared.ratelimit.policies import Decision, policy_table


def ratelimit_headers(decision: Decision) -> dict[str, str]:
    """IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers).

    `t` is when the quota is available again: on a denial the time until the request would
    fit (equal to `Retry-After`, DESIGN §1), otherwise the time until the window is clear.
    """
    name = decision.policy
    reset = decision.reset_s if decision.allowed else max(decision.retry_after_s, 1)
    return {
        "RateLimit-Policy": f'"{name}";q={decision.limit};w={decision.window_s}',
        "RateLimit": f'"{name}";r={decision.remaining};t={reset}',
    }


RATELIMIT_CLIENT = web.AppKey("ratelimit_client", RateLimitClient)


async def enforce(
    request: web.Request,
    policy: str,
    ip: str,
    *,
    user_id: str | None = None,
    subject: str | None = None,
) -> Decision:
    """Check `policy` for this request; add the RateLimit headers to its response.

    Raises:
        Problem: 429 with `Retry-After` (seconds) when the limit is reached.
    """
    decision = await request.app[RATELIMIT_CLIENT].check(
        policy, ip, user_id=user_id, subject=subject, request_id=request.get(REQUEST_ID)
    )
    headers = ratelimit_headers(decision)
    add_response_headers(request, headers)
    if not decision.allowed:
        retry = str(max(decision.retry_after_s, 1))
        raise Problem(
            429,
            f"rate limit of the {policy} policy reached; retry in {retry} s",
            headers={"Retry-After": retry},
        )
    return decision


def ratelimit_client_context(settings: PeerSettings) -> CleanupContext:
    """aiohttp cleanup context storing a `RateLimitClient` at `app[RATELIMIT_CLIENT]`.

    The client starts with the configured policy table (`RATELIMIT_POLICIES`), fetches the
    service's own at start (without waiting past its timeout when the service is down) and
    every `RATELIMIT_POLICIES_REFRESH_S`, when it also counts this service's live instances
    (`INSTANCES_DNS`, or `INSTANCES`). Its breaker is reported as the non-critical readiness
    check `ratelimit`. On cleanup the client's calls still running are cancelled
    (`RateLimitClient.close()`). Needs `app[HTTP_SESSION]` (register `http_session_context` first).
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        client = RateLimitClient(
            app[HTTP_SESSION],
            settings.ratelimit_url,
            service=app[SERVICE],
            timeout_s=settings.ratelimit_timeout_s,
            policies=policy_table(settings.ratelimit_policies),
            instances=LiveInstances(settings.instances_dns, configured=settings.instances),
            lease_ms=settings.ratelimit_lease_ms,
            hedge_floor_s=settings.ratelimit_hedge_floor_s,
        )
        app[RATELIMIT_CLIENT] = client
        # Reported, not failing: the service keeps serving with its local fallback.
        app[READINESS].add("ratelimit", client.ready, critical=False)
        await client.refresh()
        try:
            async with in_background(client.run(settings.ratelimit_policies_refresh_s)):
                yield
        finally:
            await client.close()

    return context
