"""Phase: a burst of bad logins is throttled with Retry-After and RateLimit headers."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time

from tools.demo.client import Reply, problem_issues, retry_after_seconds
from tools.demo.context import DemoContext
from tools.demo.report import Section

AUTH_WINDOW_S = 15 * 60
BAD_LOGIN_ATTEMPTS = 10
BURST_AFTER_REGISTRATION_S = 3.0


async def burst_bad_logins(ctx: DemoContext, section: Section) -> None:
    """Wrong passwords for one account: 401s, then 429 with Retry-After; then even the right one."""
    jonas = ctx.member("Jonas")
    # His registration is the oldest hit in the window; let it age so that "when the quota frees"
    # (Retry-After) and "when the window is empty" differ, and the RateLimit t= check means something.
    await asyncio.sleep(
        max(0.0, BURST_AFTER_REGISTRATION_S - (time.monotonic() - jonas.registered_at))
    )
    unknown = await ctx.client.send(
        "POST",
        "/api/auth/login",
        json_body={
            "email": f"nobody.{ctx.run_id}@example.com",
            "password": secrets.token_urlsafe(18),
        },
    )
    wrong = {"email": jonas.email, "password": secrets.token_urlsafe(18)}
    replies: list[Reply] = []
    for _ in range(BAD_LOGIN_ATTEMPTS):
        replies.append(await ctx.client.send("POST", "/api/auth/login", json_body=wrong))
        if replies[-1].status != 401:
            break
    statuses = [reply.status for reply in replies]
    section.note(f"statuses of {len(statuses)} wrong-password logins: {statuses}")
    section.verify(
        "bad logins are 401 until the limit, then 429",
        "401, ..., 401, 429",
        statuses,
        statuses[0] == 401 and statuses[-1] == 429,
    )
    section.verify(
        "unknown e-mail and wrong password get one generic 401",
        problem_text(replies[0]),
        problem_text(unknown),
        unknown.status == 401 and problem_text(replies[0]) == problem_text(unknown),
    )
    denial = replies[-1]
    if denial.status != 429:
        return
    retry_after = retry_after_seconds(denial)
    section.verify(
        "429 carries Retry-After (seconds, within the 15 min window)",
        f"1..{AUTH_WINDOW_S}",
        denial.headers.get("Retry-After"),
        retry_after is not None and 1 <= retry_after <= AUTH_WINDOW_S,
    )
    section.verify("429 is problem+json", [], problem_issues(denial))
    present = [h for h in ("RateLimit-Policy", "RateLimit") if h in denial.headers]
    section.verify("429 carries RateLimit-Policy and RateLimit", 2, len(present))
    reset = ratelimit_reset_seconds(denial)
    section.verify(
        "Retry-After equals the reset announced in RateLimit (t=)",
        f"t={retry_after}",
        denial.headers.get("RateLimit"),
        reset is not None and retry_after is not None and abs(reset - retry_after) <= 1,
    )
    right = {"email": jonas.email, "password": jonas.password}
    reply = await ctx.client.send("POST", "/api/auth/login", json_body=right)
    section.verify(
        "the right password is throttled too while limited", "HTTP 429", f"HTTP {reply.status}"
    )


def ratelimit_reset_seconds(reply: Reply) -> int | None:
    """The `t` (seconds until the quota resets) of an IETF RateLimit header field."""
    found = re.search(r"(?:^|;)\s*t=(\d+)", reply.headers.get("RateLimit", ""))
    return int(found.group(1)) if found else None


def problem_text(reply: Reply) -> str:
    try:
        body = json.loads(reply.body)
    except ValueError:
        return reply.describe()
    if not isinstance(body, dict):
        return reply.describe()
    return f"{body.get('title')}: {body.get('detail')}"
