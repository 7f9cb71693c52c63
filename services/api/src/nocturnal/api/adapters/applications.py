"""Applications in MongoDB: one per (duty, applicant), enforced by a unique index."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from nocturnal.api.domain.applications import AlreadyApplied, Application, ApplicationStatus
from nocturnal.shared.keyset import CREATED_NEWEST_FIRST, CREATED_OLDEST_FIRST
from nocturnal.shared.mongo import Document
from nocturnal.shared.paging import Page, PageRequest

COLLECTION = "applications"
LIVE_STATUSES = (ApplicationStatus.PENDING.value, ApplicationStatus.ACCEPTED.value)


class MongoApplicationRepository:
    """The `applications` collection (an `ApplicationRepository`), read and written in
    `session`'s transaction when one is given."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._applications = db[COLLECTION]
        self._session = session

    async def ensure_indexes(self) -> None:
        """One application per (duty, applicant); listings per duty and per applicant."""
        await self._applications.create_index(
            [("duty_id", ASCENDING), ("applicant_id", ASCENDING)],
            unique=True,
            name="one_per_applicant_and_duty",
        )
        await self._applications.create_index(
            [("duty_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
            name="by_duty_oldest_first",
        )
        await self._applications.create_index(
            [("applicant_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="by_applicant_newest_first",
        )

    async def get(self, application_id: str) -> Application | None:
        """The application, or None."""
        doc = await self._applications.find_one({"_id": application_id}, session=self._session)
        return _application(doc) if doc else None

    async def insert(self, application: Application) -> None:
        """Store a new application.

        Raises:
            AlreadyApplied: the unique index holds one for this duty and applicant.
        """
        try:
            await self._applications.insert_one(_document(application), session=self._session)
        except DuplicateKeyError:
            raise AlreadyApplied("you have already applied to this duty") from None

    async def move(self, application: Application, *, expected: ApplicationStatus) -> bool:
        """Store `application`'s status if the stored one is still `expected`."""
        result = await self._applications.update_one(
            {"_id": application.id, "status": expected.value},
            {
                "$set": {
                    "status": application.status.value,
                    "updated_at": application.updated_at,
                }
            },
            session=self._session,
        )
        return result.matched_count == 1

    async def live_applicants(self, duty_id: str) -> list[str]:
        """Applicants whose application to the duty is PENDING or ACCEPTED."""
        cursor = self._applications.find(
            {"duty_id": duty_id, "status": {"$in": LIVE_STATUSES}},
            {"applicant_id": 1},
            session=self._session,
        )
        return [doc["applicant_id"] async for doc in cursor]

    async def of_applicant(self, applicant_id: str) -> list[Application]:
        """Every application of the applicant."""
        cursor = self._applications.find({"applicant_id": applicant_id}, session=self._session)
        return [_application(doc) async for doc in cursor]

    async def delete_of_applicant(self, applicant_id: str) -> None:
        """Erase every application of the applicant."""
        await self._applications.delete_many({"applicant_id": applicant_id}, session=self._session)

    async def page_for_duty(self, duty_id: str, request: PageRequest) -> Page[Application]:
        """A page of the applications to the duty, oldest first.

        Raises:
            InvalidCursor: the cursor is not a key of this listing.
        """
        return await CREATED_OLDEST_FIRST.page(
            self._applications,
            {"duty_id": duty_id},
            request,
            _application,
            session=self._session,
        )

    async def page_for_applicant(
        self, applicant_id: str, request: PageRequest
    ) -> Page[Application]:
        """A page of the applicant's applications, newest first.

        Raises:
            InvalidCursor: the cursor is not a key of this listing.
        """
        return await CREATED_NEWEST_FIRST.page(
            self._applications,
            {"applicant_id": applicant_id},
            request,
            _application,
            session=self._session,
        )


def _document(application: Application) -> Document:
    return {
        "_id": application.id,
        "duty_id": application.duty_id,
        "applicant_id": application.applicant_id,
        "status": application.status.value,
        "cover_letter": application.cover_letter,
        "created_at": application.created_at,
        "updated_at": application.updated_at,
    }


def _application(doc: Document) -> Application:
    return Application(
        id=doc["_id"],
        duty_id=doc["duty_id"],
        applicant_id=doc["applicant_id"],
        status=ApplicationStatus(doc["status"]),
        cover_letter=doc["cover_letter"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )
