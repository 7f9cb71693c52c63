"""Event handlers: `user.deleted` erases the user's files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict

from nocturnal.shared.events import CloudEvent
from nocturnal.shared.unit_of_work import Transaction
from nocturnal.upload.service_layer import FileService, Repositories

EventHandler = Callable[[CloudEvent, Transaction[Repositories]], Awaitable[None]]


class UserDeleted(BaseModel):
    """Data of `user.deleted`."""

    model_config = ConfigDict(extra="ignore")

    user_id: str


def event_handlers(files: FileService) -> dict[str, EventHandler]:
    """Event name → handler, for the service's durable queue (inbox: each event once)."""

    async def user_deleted(event: CloudEvent, tx: Transaction[Repositories]) -> None:
        await files.erase_owner(tx, UserDeleted.model_validate(event.data).user_id)

    return {"user.deleted": user_deleted}
