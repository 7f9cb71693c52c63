"""The MongoDB repositories against a real server: indexes, counters, photos, cursors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.api.adapters.duties import MongoDutyRepository
from nocturnal.api.adapters.profiles import MongoProfileRepository
from nocturnal.api.app import create_indexes
from nocturnal.api.domain.duties import (
    Duty,
    DutyDetails,
    DutyQuery,
    DutyStatus,
    Requirements,
    Urgency,
)
from nocturnal.shared.clock import utc_now
from nocturnal.shared.mongo import in_transaction
from nocturnal.shared.paging import InvalidCursor, PageRequest


def a_duty(duty_id: str, positions: int = 1) -> Duty:
    details = DutyDetails(
        "Night cover", "St Mary's", "ICU", "Critical  Care", "", date.today() + timedelta(days=2),
        time(22, 0), time(6, 0), Decimal("95.55"), positions, Urgency.NORMAL, "London",
        Requirements(2, ("ALS",)),
    )  # fmt: skip
    return Duty.post(duty_id, details, posted_by="admin", now=utc_now())


async def test_indexes_are_created_idempotently(db: AsyncDatabase[Any]) -> None:
    await create_indexes(db)
    await create_indexes(db)
    names = {index["name"] async for index in await db["applications"].list_indexes()}
    assert "one_per_applicant_and_duty" in names


async def test_a_duty_reads_back_exactly_with_decimal_money(db: AsyncDatabase[Any]) -> None:
    duties, duty = MongoDutyRepository(db), a_duty("d1")
    await in_transaction(db.client, lambda s: MongoDutyRepository(db, s).insert(duty))
    assert await duties.get("d1") == duty
    stored = await db["duties"].find_one({"_id": "d1"})
    assert stored is not None
    assert stored["hourly_rate"].to_decimal() == Decimal("95.55")
    assert stored["total_compensation"].to_decimal() == Decimal("764.40")


async def test_amounts_read_back_with_their_own_digits_however_often_read(
    db: AsyncDatabase[Any],
) -> None:
    # Amounts are converted once per encoding: 95.5 and 95.50 are two encodings, two answers.
    duties = MongoDutyRepository(db)
    rates = {"d-a": Decimal("95.5"), "d-b": Decimal("95.50"), "d-c": Decimal("95.5")}
    for duty_id, rate in rates.items():
        duty = a_duty(duty_id)
        duty = dataclasses.replace(
            duty, details=dataclasses.replace(duty.details, hourly_rate=rate)
        )
        await in_transaction(db.client, lambda s, d=duty: MongoDutyRepository(db, s).insert(d))
    for _ in range(2):
        for duty_id, rate in rates.items():
            read = await duties.get(duty_id)
            assert read is not None
            assert str(read.details.hourly_rate) == str(rate)


async def test_positions_are_counted_up_to_full_then_refused_and_freed(
    db: AsyncDatabase[Any],
) -> None:
    duty = a_duty("d1", positions=1)
    await in_transaction(db.client, lambda s: MongoDutyRepository(db, s).insert(duty))

    async def take() -> Duty | None:
        return await in_transaction(
            db.client, lambda s: MongoDutyRepository(db, s).take_position(duty, utc_now())
        )

    async def free() -> Duty | None:
        return await in_transaction(
            db.client, lambda s: MongoDutyRepository(db, s).free_position("d1", utc_now())
        )

    taken = await take()
    assert taken is not None
    assert (taken.positions_filled, taken.status) == (1, DutyStatus.FILLED)
    assert await take() is None
    freed = await free()
    assert freed is not None
    assert (freed.positions_filled, freed.status) == (0, DutyStatus.OPEN)
    assert await free() is None


async def test_text_filters_ignore_case_and_spacing(db: AsyncDatabase[Any]) -> None:
    duties = MongoDutyRepository(db)
    await in_transaction(db.client, lambda s: MongoDutyRepository(db, s).insert(a_duty("d1")))
    found = await duties.page(DutyQuery(specialty=" critical care "), PageRequest(10))
    assert [d.id for d in found.items] == ["d1"]


@pytest.mark.parametrize("after", [[], ["a", "b"], ["a", "b", 3], [None, None, None]])
async def test_a_cursor_of_another_shape_is_refused(
    db: AsyncDatabase[Any], after: list[Any]
) -> None:
    with pytest.raises(InvalidCursor):
        await MongoDutyRepository(db).page(DutyQuery(), PageRequest(10, after))


async def test_registering_again_keeps_the_profile_as_edited(db: AsyncDatabase[Any]) -> None:
    profiles, at = MongoProfileRepository(db), datetime.now(UTC)

    async def register(session: Any) -> None:
        await MongoProfileRepository(db, session).register("u1", name="Amara", role="nurse", at=at)

    await in_transaction(db.client, register)
    await profiles.update("u1", {"name": "Amara O."}, utc_now())
    await in_transaction(db.client, register)
    profile = await profiles.get("u1")
    assert profile is not None
    assert (profile.name, profile.role) == ("Amara O.", "nurse")


async def test_a_photo_seen_before_registration_shows_once_registered(
    db: AsyncDatabase[Any],
) -> None:
    profiles, at = MongoProfileRepository(db), datetime.now(UTC)

    def bound(session: Any) -> MongoProfileRepository:
        return MongoProfileRepository(db, session)

    await in_transaction(db.client, lambda s: bound(s).set_photo("u1", "f1", at))
    assert await profiles.get("u1") is None
    await in_transaction(
        db.client, lambda s: bound(s).register("u1", name="A", role="doctor", at=at)
    )
    profile = await profiles.get("u1")
    assert profile is not None
    assert profile.photo_file_id == "f1"
    earlier = at - timedelta(seconds=1)
    await in_transaction(db.client, lambda s: bound(s).set_photo("u1", "f0", earlier))
    assert (await profiles.get("u1")).photo_file_id == "f1"  # type: ignore[union-attr]
