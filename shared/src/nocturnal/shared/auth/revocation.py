"""Revocation epochs (DESIGN §2): per-user `not_before` times, kept current on every verifying
instance from `auth.tokens_revoked` events and auth's list of epochs in force."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from pydantic import BaseModel
from typing_extensions import TypedDict

from nocturnal.shared.auth.claims import TOKEN_HORIZON_S
from nocturnal.shared.breaker import CircuitBreaker
from nocturnal.shared.event_payloads import TokensRevokedData
from nocturnal.shared.events.bus import EventBus
from nocturnal.shared.events.envelope import CloudEvent
from nocturnal.shared.http.client import PEER_FAILURES
from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import TOKEN_REVOCATIONS

log = get_logger("auth")


class RevocationList:
    """Per-user revocation epochs from `auth.tokens_revoked` events (DESIGN §2).

    A token of user U issued before `not_before[U]` (epoch seconds) is rejected. Entries older
    than the access-token lifetime are pruned: every token they could reject has expired.
    `clock` gives the current time (epoch seconds) the pruning measures against.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._not_before: dict[str, int] = {}
        self._clock = clock

    def revoke(self, user_id: str, not_before: int) -> None:
        """Reject user `user_id`'s tokens issued before `not_before` (the latest epoch wins)."""
        self._not_before[user_id] = max(not_before, self._not_before.get(user_id, 0))
        self._prune(int(self._clock()))

    def is_revoked(self, user_id: str, issued_at: int) -> bool:
        """True when a token issued at `issued_at` for `user_id` predates its revocation epoch."""
        return issued_at < self._not_before.get(user_id, 0)

    def _prune(self, now: int) -> None:
        horizon = now - TOKEN_HORIZON_S
        self._not_before = {u: nb for u, nb in self._not_before.items() if nb > horizon}
        TOKEN_REVOCATIONS.set(len(self._not_before))


class _Revocation(BaseModel):
    user_id: str
    not_before: int


class _Revocations(BaseModel):
    items: list[_Revocation]


class RevocationEpoch(TypedDict):
    """The user's access tokens issued before `not_before` (epoch seconds) are dead."""

    user_id: str
    not_before: int


EpochSource = Callable[[], Awaitable[list[RevocationEpoch]]]
"""Reads the revocation epochs still in force: `[{user_id, not_before}]` (raises on failure)."""


def http_revocations(
    session: aiohttp.ClientSession, auth_url: str, breaker: CircuitBreaker
) -> EpochSource:
    """An `EpochSource` reading auth's internal `GET {auth_url}/v1/revocations`
    (`{items: [{user_id, not_before}]}`) through `breaker` (auth's peer breaker; `BreakerOpen`
    when auth failed just before)."""
    url = f"{auth_url.rstrip('/')}/v1/revocations"

    async def read() -> list[RevocationEpoch]:
        with breaker.guard(PEER_FAILURES):
            async with session.get(url) as response:
                response.raise_for_status()
                body: dict[str, Any] = await response.json()
        return list(body.get("items", []))

    return read


class RevocationFollower:
    """Keeps a `RevocationList` current on one verifying instance (DESIGN §2).

    Follows `auth.tokens_revoked {user_id, not_before}` on a fan-out queue of this instance and
    (re)loads the epochs still in force from `source` (auth's database in auth, its
    `/v1/revocations` route elsewhere) at start and whenever the fan-out queue reattaches,
    covering events sent while this instance could not see them. A failed load is logged, not
    raised: auth being down must not stop another service.
    """

    def __init__(self, revocations: RevocationList, source: EpochSource) -> None:
        self.revocations = revocations
        self._source = source

    def subscribe(self, bus: EventBus) -> None:
        """Register the fan-out consumer on `bus` (before the bus opens)."""
        bus.subscribe_fan_out({"auth.tokens_revoked": self.apply}, on_reattach=self.load)

    async def apply(self, event: CloudEvent) -> None:
        """Apply one `auth.tokens_revoked` event.

        Raises:
            pydantic.ValidationError: the event data lacks `user_id` / integer `not_before`.
        """
        revocation = TokensRevokedData.model_validate(event.data)
        self.revocations.revoke(revocation.user_id, revocation.not_before)

    async def load(self) -> None:
        """Apply every revocation epoch the source still holds."""
        try:
            loaded = _Revocations.model_validate({"items": await self._source()})
        except Exception as exc:  # any source failure: events keep arriving meanwhile
            log.warning("revocations not loaded", error=repr(exc))
            return
        for item in loaded.items:
            self.revocations.revoke(item.user_id, item.not_before)
