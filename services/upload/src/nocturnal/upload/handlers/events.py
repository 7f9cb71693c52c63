"""Event handlers: `user.deleted` erases the user's files."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pymongo.asynchronous.client_session import AsyncClientSession

from nocturnal.shared.events import CloudEvent, Handler
from nocturnal.upload.service_layer import FileService


class UserDeleted(BaseModel):
    """Data of `user.deleted`."""

    model_config = ConfigDict(extra="ignore")

    user_id: str


def erase_deleted_user(files: FileService) -> Handler:
    """Handler of `user.deleted`: delete every file of the user (idempotent)."""

    async def handle(event: CloudEvent, session: AsyncClientSession) -> None:
        data = UserDeleted.model_validate(event.data)
        await files.erase_owner(data.user_id, session)

    return handle
