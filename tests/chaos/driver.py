"""A steady-load driver for the chaos tests: requests at a fixed rate, every outcome kept.

Usage (inside an async test)::

    load = SteadyLoad(stack.base_url, standard_mix(token), rate=40)
    async with load.running():
        await load.settle(2.0)           # phase "before"
        load.phase = "during"
        ...break something...
        await load.settle(3.0)
        ...repair it...
        load.phase = "after"
        await load.settle(3.0)
    load.assert_only(allowed={503})      # no other 5xx, no connection error

Request i is sent at `start + i / rate` whatever happened to earlier ones (open loop: a stalled
server cannot slow the load down and so hide its stall), in its own task, each step of the mix
in turn. Every request records an `Outcome`: the step, the phase it was *sent* in, the status
(None on a connection error or timeout), the latency from its due time in ms, the error, the
`Retry-After` header and the start of the body. A connection per request: the local gateway
follows readiness by reloading nginx, which closes idle client connections (see
tests/deploy/test_drain.py); a keep-alive client would count that race as a fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import aiohttp
from polling import eventually

PHASES = ("before", "during", "after")
# requests/s: enough to see a fault, light enough for a loaded 2-core CI machine; CHAOS_RATE
# sets another (the report's runs under heavier load).
DEFAULT_RATE = float(os.environ.get("CHAOS_RATE", "20"))
DEFAULT_TIMEOUT_S = 20.0  # longer than any bound the tests assert, so a hang shows as latency


@dataclass(frozen=True)
class Step:
    """One kind of request in the mix. `body(key)` builds the JSON body of the request whose
    key (unique across loads: `<load tag>-<seq>`) is `key`."""

    name: str
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class Outcome:
    """What one request got. `status` is None when the connection failed or timed out."""

    seq: int
    key: str
    step: str
    phase: str
    status: int | None
    latency_ms: float
    error: str | None = None
    retry_after: str | None = None
    content_type: str = ""
    body: bytes = b""

    def describe(self) -> str:
        answer = self.error if self.status is None else f"{self.status} {self.body[:200]!r}"
        return f"#{self.key} {self.step} ({self.phase}, {self.latency_ms:.0f} ms): {answer}"


@dataclass
class SteadyLoad:
    """Sends `steps` in turn at `rate` requests/s to `base_url` while `running()`; set
    `phase` to label what is sent from then on."""

    base_url: str
    steps: Sequence[Step]
    rate: float = DEFAULT_RATE
    timeout_s: float = DEFAULT_TIMEOUT_S
    phase: str = "before"
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    outcomes: list[Outcome] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SteadyLoad]:
        """Send the load in the background; on exit stop sending and wait for the answers."""
        stopping = asyncio.Event()
        sender = asyncio.create_task(self._send(stopping))
        try:
            yield self
        finally:
            stopping.set()
            await sender

    async def settle(self, seconds: float) -> None:
        """Let the load run `seconds` longer (in the current phase)."""
        await asyncio.sleep(seconds)

    async def wait_for(
        self, condition: Callable[[], bool], what: str, within_s: float = 60.0
    ) -> None:
        """Wait (under load) until `condition()`; fail naming `what` after `within_s`."""
        deadline = time.monotonic() + within_s
        while not condition():
            assert time.monotonic() < deadline, f"{what} did not happen within {within_s:.0f} s"
            await asyncio.sleep(0.1)

    async def _send(self, stopping: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        in_flight: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            start = time.perf_counter()
            for seq in itertools.count():
                due = start + seq / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), delay)
                if stopping.is_set():
                    break
                step = self.steps[seq % len(self.steps)]
                task = asyncio.create_task(self._one(session, seq, step, due, self.phase))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if in_flight:
                await asyncio.gather(*in_flight)

    async def _one(
        self, session: aiohttp.ClientSession, seq: int, step: Step, due: float, phase: str
    ) -> None:
        key = f"{self.tag}-{seq}"
        headers = {"X-Request-ID": f"chaos-{key}", **step.headers}
        body = step.body(key) if step.body is not None else None
        try:
            async with session.request(
                step.method, self.base_url + step.path, headers=headers, json=body
            ) as response:
                content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            latency = (time.perf_counter() - due) * 1000
            self.outcomes.append(Outcome(seq, key, step.name, phase, None, latency, repr(exc)))
            return
        latency = (time.perf_counter() - due) * 1000
        self.outcomes.append(
            Outcome(
                seq,
                key,
                step.name,
                phase,
                response.status,
                latency,
                retry_after=response.headers.get("Retry-After"),
                content_type=response.headers.get("Content-Type", ""),
                body=content[:2000],
            )
        )

    # --- reading the outcomes -------------------------------------------------------------

    def in_phase(self, phase: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.phase == phase]

    def statuses(self, outcomes: Iterable[Outcome] | None = None) -> Counter[str]:
        """Counts by `"<step> <status>"` (`"<step> error"` for a connection error)."""
        chosen = self.outcomes if outcomes is None else outcomes
        return Counter(f"{o.step} {o.status or 'error'}" for o in chosen)

    def unexpected(self, allowed: Iterable[int] = ()) -> list[Outcome]:
        """Connection errors and 5xx answers other than `allowed` (e.g. {503}); an allowed
        5xx must also be problem+json with `Retry-After`."""
        allowed = set(allowed)
        return [
            o
            for o in self.outcomes
            if o.status is None
            or (o.status >= 500 and o.status not in allowed)
            or (o.status in allowed and not documented_unavailable(o))
        ]

    def assert_only(self, allowed: Iterable[int] = ()) -> None:
        """Fail listing up to 20 outcomes that `unexpected(allowed)` finds."""
        bad = self.unexpected(allowed)
        summary = "; ".join(o.describe() for o in bad[:20])
        assert not bad, f"{len(bad)} of {len(self.outcomes)} requests failed: {summary}"


def documented_unavailable(outcome: Outcome) -> bool:
    """A 5xx a client can act on: problem+json with `Retry-After`."""
    return outcome.content_type.startswith("application/problem+json") and bool(outcome.retry_after)


# --- the standard mix -------------------------------------------------------------------------


def duty_body(key: str) -> dict[str, Any]:
    """A valid POST /api/duties body titled `chaos duty <key>` (so a test can count writes)."""
    return {
        "title": f"chaos duty {key}",
        "hospital_name": "St Mary's General Hospital",
        "department": "Emergency",
        "specialty": "Emergency Medicine",
        "description": "Posted under a fault.",
        "date": (date.today() + timedelta(days=7)).isoformat(),
        "start_time": "22:00",
        "end_time": "06:00",
        "hourly_rate": 80,
        "positions_needed": 1,
        "urgency": "NORMAL",
        "location": "Leeds",
        "requirements": {"minimum_experience": 1, "required_skills": []},
    }


def standard_mix(token: str) -> list[Step]:
    """Mixed reads and writes of a hospital admin: a health check (no token, no database),
    the caller's profile and a duty list (token, rate limit, database), a duty posting (write
    with an event)."""
    bearer = {"Authorization": f"Bearer {token}"}
    return [
        Step("health", "GET", "/api/health"),
        Step("profile", "GET", "/api/profiles/me", bearer),
        Step("duties", "GET", "/api/duties?limit=5", bearer),
        Step("post duty", "POST", "/api/duties", bearer, duty_body),
    ]


async def register(base_url: str, role: str = "hospital_admin") -> tuple[str, dict[str, Any]]:
    """Register a fresh account through the gateway; return (access token, the register body
    with the new user's `id` added) once its profile exists (the api makes it from the
    `user.registered` event: a load started before would see 404s that are no fault's)."""
    account = {
        "email": f"chaos.{secrets.token_hex(5)}@example.com",
        "password": secrets.token_urlsafe(18),
        "name": "Ada Chaos",
        "role": role,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base_url}/api/auth/register", json=account) as response,
    ):
        assert response.status == 201, await response.text()
        answer = await response.json()
    account["id"] = answer["user"]["id"]
    token = answer["access_token"]

    async def profile_made() -> bool:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{base_url}/api/profiles/me", headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            return response.status == 200

    await eventually(profile_made, "the new account's profile", within=30)
    return token, account
