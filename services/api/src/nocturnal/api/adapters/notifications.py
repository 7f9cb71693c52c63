"""Notifications in MongoDB, newest first per user."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.api.domain.notifications import Notification
from nocturnal.shared.keyset import CREATED_NEWEST_FIRST
from nocturnal.shared.mongo import Document
from nocturnal.shared.paging import Page, PageRequest

COLLECTION = "notifications"


class MongoNotificationRepository:
    """The `notifications` collection (a `NotificationRepository`), read and written in
    `session`'s transaction when one is given."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._notifications = db[COLLECTION]
        self._session = session

    async def ensure_indexes(self) -> None:
        """The per-user listing, newest first."""
        await self._notifications.create_index(
            [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="by_user_newest_first",
        )

    async def add(self, notifications: list[Notification]) -> None:
        """Store notifications; one already stored (same id) is left as it is."""
        for notification in notifications:
            await self._notifications.update_one(
                {"_id": notification.id},
                {"$setOnInsert": _document(notification)},
                upsert=True,
                session=self._session,
            )

    async def mark_read(
        self, notification_id: str, user_id: str, now: datetime
    ) -> Notification | None:
        """Mark the user's notification read (keeping the first reading time); None if the
        user has no such notification."""
        await self._notifications.update_one(
            {"_id": notification_id, "user_id": user_id, "read_at": None},
            {"$set": {"read_at": now}},
            session=self._session,
        )
        doc = await self._notifications.find_one(
            {"_id": notification_id, "user_id": user_id}, session=self._session
        )
        return _notification(doc) if doc else None

    async def erase_of(self, user_id: str) -> None:
        """Delete every notification of the user."""
        await self._notifications.delete_many({"user_id": user_id}, session=self._session)

    async def page(self, user_id: str, request: PageRequest) -> Page[Notification]:
        """A page of the user's notifications, newest first.

        Raises:
            InvalidCursor: the cursor is not a key of this listing.
        """
        return await CREATED_NEWEST_FIRST.page(
            self._notifications,
            {"user_id": user_id},
            request,
            _notification,
            session=self._session,
        )


def _document(notification: Notification) -> Document:
    return {
        "_id": notification.id,
        "user_id": notification.user_id,
        "kind": notification.kind,
        "message": notification.message,
        "duty_id": notification.duty_id,
        "application_id": notification.application_id,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }


def _notification(doc: Document) -> Notification:
    return Notification(
        id=doc["_id"],
        user_id=doc["user_id"],
        kind=doc["kind"],
        message=doc["message"],
        duty_id=doc["duty_id"],
        application_id=doc["application_id"],
        created_at=doc["created_at"],
        read_at=doc["read_at"],
    )
