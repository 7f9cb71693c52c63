"""Duties in MongoDB: documents, the listing query and the atomic position counter."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache

from bson import Decimal128
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.api.domain.duties import (
    Duty,
    DutyDetails,
    DutyQuery,
    DutyStatus,
    Requirements,
    Urgency,
)
from nocturnal.api.domain.pay import Pay
from nocturnal.shared.keyset import Keyset
from nocturnal.shared.mongo import Document
from nocturnal.shared.paging import Page, PageRequest

COLLECTION = "duties"
# Soonest first: the wall-clock date and start time (ISO strings sort chronologically), then id.
SORT_FIELDS = ("date", "start_time", "_id")
SOONEST_FIRST = Keyset(SORT_FIELDS)


class MongoDutyRepository:
    """The `duties` collection (a `DutyRepository`), read and written in `session`'s
    transaction when one is given."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._duties = db[COLLECTION]
        self._session = session

    async def ensure_indexes(self) -> None:
        """Indexes for the listing (with and without a status filter) and per poster."""
        await self._duties.create_index(
            [(field, ASCENDING) for field in SORT_FIELDS], name="soonest_first"
        )
        await self._duties.create_index(
            [("status", ASCENDING), *((field, ASCENDING) for field in SORT_FIELDS)],
            name="status_soonest_first",
        )
        await self._duties.create_index("posted_by", name="by_poster")

    async def get(self, duty_id: str) -> Duty | None:
        """The duty, or None."""
        doc = await self._duties.find_one({"_id": duty_id}, session=self._session)
        return _duty(doc) if doc else None

    async def insert(self, duty: Duty) -> None:
        """Store a new duty."""
        await self._duties.insert_one(_document(duty), session=self._session)

    async def replace(self, duty: Duty, *, expected: Duty) -> bool:
        """Store `duty` if the stored one still has `expected`'s status and filled count."""
        result = await self._duties.replace_one(
            {
                "_id": duty.id,
                "status": expected.status.value,
                "positions_filled": expected.positions_filled,
            },
            _document(duty),
            session=self._session,
        )
        return result.matched_count == 1

    async def take_position(self, duty: Duty, now: datetime) -> Duty | None:
        """Take one position, atomically, if the duty is still OPEN with a position free; it
        becomes FILLED when full. None when no position could be taken."""
        needed = duty.details.positions_needed
        return await self._count_position(
            {
                "_id": duty.id,
                "status": DutyStatus.OPEN.value,
                "positions_needed": needed,
                "positions_filled": {"$lt": needed},
            },
            +1,
            now,
        )

    async def free_position(self, duty_id: str, now: datetime) -> Duty | None:
        """Release one taken position; a FILLED duty reopens. None when none was taken."""
        return await self._count_position({"_id": duty_id, "positions_filled": {"$gt": 0}}, -1, now)

    async def _count_position(self, criteria: Document, step: int, now: datetime) -> Duty | None:
        doc = await self._duties.find_one_and_update(
            criteria,
            {"$inc": {"positions_filled": step}, "$set": {"updated_at": now}},
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        if doc is None:
            return None
        counted = _duty(doc)
        settled = counted.with_settled_status()
        if settled.status is not counted.status:
            await self._duties.update_one(
                {"_id": settled.id},
                {"$set": {"status": settled.status.value}},
                session=self._session,
            )
        return settled

    async def live_of_poster(self, poster_id: str) -> list[Duty]:
        """The poster's duties that are not CANCELLED."""
        cursor = self._duties.find(
            {"posted_by": poster_id, "status": {"$ne": DutyStatus.CANCELLED.value}},
            session=self._session,
        )
        return [_duty(doc) async for doc in cursor]

    async def page(self, query: DutyQuery, request: PageRequest) -> Page[Duty]:
        """A page of the duties matching `query`, soonest first.

        Raises:
            InvalidCursor: the cursor is not a key of this listing.
        """
        return await SOONEST_FIRST.page(
            self._duties, _criteria(query), request, _duty, session=self._session
        )


def _criteria(query: DutyQuery) -> Document:
    criteria: Document = {}
    if query.specialty:
        criteria["specialty_key"] = _text_key(query.specialty)
    if query.location:
        criteria["location_key"] = _text_key(query.location)
    if query.status:
        criteria["status"] = query.status.value
    if query.urgency:
        criteria["urgency"] = query.urgency.value
    dates: Document = {}
    if query.date_from:
        dates["$gte"] = query.date_from.isoformat()
    if query.date_to:
        dates["$lte"] = query.date_to.isoformat()
    if dates:
        criteria["date"] = dates
    return criteria


def _text_key(text: str) -> str:
    return " ".join(text.casefold().split())


def _hhmm(moment: time) -> str:
    return moment.strftime("%H:%M")


def _money(value: Decimal) -> Decimal128:
    return Decimal128(value)


def _amount(value: Decimal128) -> Decimal:
    return _decimal_of(value.bid)


@lru_cache(maxsize=4096)
def _decimal_of(bid: bytes) -> Decimal:
    # Decimal128.to_decimal is pure Python and a duty has five amounts; amounts repeat (rates,
    # fees) and a Decimal is immutable, so each 16-byte encoding is converted once.
    return Decimal128.from_bid(bid).to_decimal()


def _document(duty: Duty) -> Document:
    d, pay = duty.details, duty.pay
    return {
        "_id": duty.id,
        "title": d.title,
        "hospital_name": d.hospital_name,
        "department": d.department,
        "specialty": d.specialty,
        "specialty_key": _text_key(d.specialty),
        "description": d.description,
        "date": d.date.isoformat(),
        "start_time": _hhmm(d.start_time),
        "end_time": _hhmm(d.end_time),
        "hourly_rate": _money(d.hourly_rate),
        "positions_needed": d.positions_needed,
        "urgency": d.urgency.value,
        "location": d.location,
        "location_key": _text_key(d.location),
        "requirements": {
            "minimum_experience": d.requirements.minimum_experience,
            "required_skills": list(d.requirements.required_skills),
        },
        "duration_hours": _money(pay.duration_hours),
        "total_compensation": _money(pay.total_compensation),
        "platform_fee_percent": _money(pay.platform_fee_percent),
        "net_payment": _money(pay.net_payment),
        "status": duty.status.value,
        "positions_filled": duty.positions_filled,
        "posted_by": duty.posted_by,
        "created_at": duty.created_at,
        "updated_at": duty.updated_at,
    }


def _duty(doc: Document) -> Duty:
    requirements = doc["requirements"]
    details = DutyDetails(
        title=doc["title"],
        hospital_name=doc["hospital_name"],
        department=doc["department"],
        specialty=doc["specialty"],
        description=doc["description"],
        date=date.fromisoformat(doc["date"]),
        start_time=time.fromisoformat(doc["start_time"]),
        end_time=time.fromisoformat(doc["end_time"]),
        hourly_rate=_amount(doc["hourly_rate"]),
        positions_needed=doc["positions_needed"],
        urgency=Urgency(doc["urgency"]),
        location=doc["location"],
        requirements=Requirements(
            minimum_experience=requirements["minimum_experience"],
            required_skills=tuple(requirements["required_skills"]),
        ),
    )
    pay = Pay(
        duration_hours=_amount(doc["duration_hours"]),
        total_compensation=_amount(doc["total_compensation"]),
        platform_fee_percent=_amount(doc["platform_fee_percent"]),
        net_payment=_amount(doc["net_payment"]),
    )
    return Duty(
        id=doc["_id"],
        details=details,
        pay=pay,
        status=DutyStatus(doc["status"]),
        positions_filled=doc["positions_filled"],
        posted_by=doc["posted_by"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )
