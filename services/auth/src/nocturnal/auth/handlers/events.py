"""Event handlers: auth follows `auth.tokens_revoked` like every verifying service."""

from __future__ import annotations

from nocturnal.shared.auth import RevocationList
from nocturnal.shared.events import CloudEvent, DirectHandler


def apply_revocation(revocations: RevocationList) -> DirectHandler:
    """Fan-out handler: reject the user's access tokens issued before `not_before`."""

    async def handle(event: CloudEvent) -> None:
        revocations.revoke(str(event.data["user_id"]), int(event.data["not_before"]))

    return handle
