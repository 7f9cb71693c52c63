"""Event handlers: auth's login outcomes drive the adaptive strict tier of the auth policy."""

from __future__ import annotations

from nocturnal.ratelimit.adapters.tiers import TierOverrides
from nocturnal.shared.events import CloudEvent, DirectHandler
from nocturnal.shared.events.payloads import LoginFailedData, LoginSucceededData


def login_handlers(tiers: TierOverrides) -> dict[str, DirectHandler]:
    """Handlers of auth's login events (idempotent: safe without an inbox)."""

    async def failed(event: CloudEvent) -> None:
        attempt = LoginFailedData.model_validate(event.data)
        await tiers.record_failed_login(attempt.email_hash, event.id)

    async def succeeded(event: CloudEvent) -> None:
        await tiers.record_login(LoginSucceededData.model_validate(event.data).email_hash)

    return {"user.login_failed": failed, "user.login_succeeded": succeeded}
