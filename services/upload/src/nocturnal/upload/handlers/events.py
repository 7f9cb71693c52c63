"""Event handlers: `user.deleted` erases the user's files."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from nocturnal.shared.events import CloudEvent, Handler
from nocturnal.shared.events.payloads import UserDeletedData
from nocturnal.upload.service_layer import FileService


def erase_deleted_user(files: FileService) -> Handler:
    """Handler of `user.deleted`: delete every file of the user (idempotent)."""

    async def handle(event: CloudEvent, session: AsyncClientSession) -> None:
        data = UserDeletedData.model_validate(event.data)
        await files.erase_owner(data.user_id, session)

    return handle
