"""Event handlers: auth's login outcomes drive the adaptive strict tier of the auth policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nocturnal.ratelimit.domain.subjects import SUBJECT_PATTERN
from nocturnal.ratelimit.service_layer import Tiers
from nocturnal.shared.events import CloudEvent, DirectHandler


class LoginAttempt(BaseModel):
    """`user.login_succeeded` / `user.login_failed` data; only the e-mail hash is used here."""

    model_config = ConfigDict(extra="ignore")

    email_hash: str = Field(pattern=SUBJECT_PATTERN)


def login_handlers(tiers: Tiers) -> dict[str, DirectHandler]:
    """Handlers of auth's login events (idempotent: safe without an inbox)."""

    async def failed(event: CloudEvent) -> None:
        await tiers.failed_login(LoginAttempt.model_validate(event.data).email_hash, event.id)

    async def succeeded(event: CloudEvent) -> None:
        await tiers.login(LoginAttempt.model_validate(event.data).email_hash)

    return {"user.login_failed": failed, "user.login_succeeded": succeeded}
