"""Event handlers: `user.deleted` erases the user's files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nocturnal.shared.event_payloads import UserDeletedData
from nocturnal.shared.events import CloudEvent
from nocturnal.shared.unit_of_work import Transaction
from nocturnal.upload.service_layer import FileService, Repositories

EventHandler = Callable[[CloudEvent, Transaction[Repositories]], Awaitable[None]]


def event_handlers(files: FileService) -> dict[str, EventHandler]:
    """Event name → handler, for the service's durable queue (inbox: each event once)."""

    async def user_deleted(event: CloudEvent, tx: Transaction[Repositories]) -> None:
        await files.erase_owner(tx, UserDeletedData.model_validate(event.data).user_id)

    return {"user.deleted": user_deleted}
