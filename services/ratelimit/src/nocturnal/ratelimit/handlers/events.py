"""Event handlers: auth's login outcomes drive the adaptive strict tier of the auth policy."""

from __future__ import annotations

from nocturnal.ratelimit.service_layer import Tiers
from nocturnal.shared.event_payloads import LoginFailedData, LoginSucceededData
from nocturnal.shared.events import CloudEvent, DirectHandler


def login_handlers(tiers: Tiers) -> dict[str, DirectHandler]:
    """Handlers of auth's login events (idempotent: safe without an inbox)."""

    async def failed(event: CloudEvent) -> None:
        await tiers.failed_login(LoginFailedData.model_validate(event.data).email_hash, event.id)

    async def succeeded(event: CloudEvent) -> None:
        await tiers.login(LoginSucceededData.model_validate(event.data).email_hash)

    return {"user.login_failed": failed, "user.login_succeeded": succeeded}
