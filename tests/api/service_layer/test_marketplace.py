"""Marketplace use cases on in-memory repositories: what each change stores and publishes."""

from __future__ import annotations

import dataclasses
from datetime import date, time
from decimal import Decimal

import pytest

from api.fakes import FakeApi
from nocturnal.api.domain.applications import AlreadyApplied, ApplicationStatus, InvalidTransition
from nocturnal.api.domain.duties import (
    DutyDetails,
    DutyFull,
    DutyNotOpen,
    DutyQuery,
    DutyStatus,
    Requirements,
    Urgency,
)
from nocturnal.api.domain.errors import AccountErased, NotFound, NotPoster
from nocturnal.shared.paging import InvalidCursor, PageRequest

ADMIN, OTHER_ADMIN, NURSE, DOCTOR = "admin", "admin-2", "nurse", "doctor"


def details(**changes: object) -> DutyDetails:
    base = DutyDetails(
        "Night cover", "St Mary's", "ICU", "Critical Care", "", date(2026, 12, 2), time(22, 0),
        time(6, 0), Decimal("95.00"), 1, Urgency.URGENT, "London", Requirements(3, ("ALS",)),
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


async def test_posting_a_duty_stores_it_open_and_announces_it(api: FakeApi) -> None:
    duty = await api.marketplace.post_duty(details(), posted_by=ADMIN)
    assert (duty.id, duty.status, duty.created_at) == ("id-1", DutyStatus.OPEN, api.clock.now)
    assert api.duties.stored == {"id-1": duty}
    [posted] = api.uow.published
    assert (posted.name, posted.subject, posted.data) == (
        "duty.posted",
        "duties/id-1",
        duty.to_json(),
    )


async def test_only_the_poster_revises_and_unchanged_details_change_nothing(api: FakeApi) -> None:
    duty = await api.marketplace.post_duty(details(), posted_by=ADMIN)
    with pytest.raises(NotPoster):
        await api.marketplace.revise_duty(duty.id, OTHER_ADMIN, lambda d: d)
    assert await api.marketplace.revise_duty(duty.id, ADMIN, lambda d: d) == duty
    assert api.uow.names() == ["duty.posted"]
    api.clock.advance(60)
    revised = await api.marketplace.revise_duty(
        duty.id, ADMIN, lambda d: dataclasses.replace(d, title="Early cover")
    )
    assert (revised.details.title, revised.updated_at) == ("Early cover", api.clock.now)
    assert api.uow.names() == ["duty.posted", "duty.updated"]


async def test_applying_twice_or_to_a_cancelled_duty_is_refused(api: FakeApi) -> None:
    duty = await api.marketplace.post_duty(details(), posted_by=ADMIN)
    application = await api.marketplace.apply(duty.id, NURSE, "Hello")
    submitted = api.uow.published[-1]
    assert submitted.name == "application.submitted"
    assert (submitted.data["duty_title"], submitted.data["posted_by"]) == ("Night cover", ADMIN)
    assert application.status is ApplicationStatus.PENDING
    with pytest.raises(AlreadyApplied):
        await api.marketplace.apply(duty.id, NURSE, "Again")
    await api.marketplace.cancel_duty(duty.id, ADMIN)
    with pytest.raises(DutyNotOpen):
        await api.marketplace.apply(duty.id, DOCTOR, "")
    with pytest.raises(NotFound):
        await api.marketplace.apply("no-such-duty", DOCTOR, "")


async def test_accepting_the_last_position_fills_the_duty_and_refuses_more(api: FakeApi) -> None:
    duty = await api.marketplace.post_duty(details(positions_needed=1), posted_by=ADMIN)
    first = await api.marketplace.apply(duty.id, NURSE, "")
    second = await api.marketplace.apply(duty.id, DOCTOR, "")
    accepted = await api.marketplace.accept(first.id, ADMIN)
    assert accepted.status is ApplicationStatus.ACCEPTED
    assert api.uow.names()[-2:] == ["application.accepted", "duty.filled"]
    assert api.duties.stored[duty.id].status is DutyStatus.FILLED
    with pytest.raises((DutyFull, DutyNotOpen)):
        await api.marketplace.accept(second.id, ADMIN)
    with pytest.raises(InvalidTransition):
        await api.marketplace.reject(first.id, ADMIN)


async def test_applications_are_private_to_the_applicant_and_the_poster(api: FakeApi) -> None:
    duty = await api.marketplace.post_duty(details(), posted_by=ADMIN)
    application = await api.marketplace.apply(duty.id, NURSE, "")
    with pytest.raises(NotFound):
        await api.marketplace.accept(application.id, OTHER_ADMIN)
    with pytest.raises(NotFound):
        await api.marketplace.withdraw(application.id, DOCTOR)
    with pytest.raises(NotPoster):
        await api.marketplace.applications_for_duty(duty.id, OTHER_ADMIN, PageRequest())
    shown = await api.marketplace.applications_for_duty(duty.id, ADMIN, PageRequest())
    assert shown.items == [application]


async def test_withdrawing_an_accepted_application_frees_the_position(api: FakeApi) -> None:
    duty = await api.marketplace.post_duty(details(positions_needed=1), posted_by=ADMIN)
    application = await api.marketplace.apply(duty.id, NURSE, "")
    await api.marketplace.accept(application.id, ADMIN)
    withdrawn = await api.marketplace.withdraw(application.id, NURSE)
    assert withdrawn.status is ApplicationStatus.WITHDRAWN
    reopened = api.duties.stored[duty.id]
    assert (reopened.status, reopened.positions_filled) == (DutyStatus.OPEN, 0)
    [event] = [e for e in api.uow.published if e.name == "application.withdrawn"]
    assert event.subject == f"applications/{application.id}"


async def test_listings_page_by_cursor_and_refuse_a_foreign_one(api: FakeApi) -> None:
    for day in (3, 1, 2):
        await api.marketplace.post_duty(details(date=date(2026, 12, day)), posted_by=ADMIN)
    first = await api.marketplace.list_duties(DutyQuery(), PageRequest(limit=2))
    assert [d.details.date.day for d in first.items] == [1, 2]
    rest = await api.marketplace.list_duties(DutyQuery(), PageRequest(2, first.next_key))
    assert ([d.details.date.day for d in rest.items], rest.next_key) == ([3], None)
    with pytest.raises(InvalidCursor):
        await api.marketplace.list_duties(DutyQuery(), PageRequest(2, ["x"]))


async def test_erasing_a_member_withdraws_their_applications_and_cancels_their_duties(
    api: FakeApi,
) -> None:
    theirs = await api.marketplace.post_duty(details(), posted_by=NURSE)
    filled = await api.marketplace.post_duty(details(positions_needed=1), posted_by=ADMIN)
    pending = await api.marketplace.post_duty(details(), posted_by=OTHER_ADMIN)
    accepted = await api.marketplace.apply(filled.id, NURSE, "I know this ward well")
    await api.marketplace.accept(accepted.id, ADMIN)
    waiting = await api.marketplace.apply(pending.id, NURSE, "Free every night")
    declined = await api.marketplace.apply(theirs.id, DOCTOR, "")
    await api.marketplace.reject(declined.id, NURSE)
    tx = api.uow.transaction()
    await api.profiles.register(NURSE, name="Grace", role="nurse", at=api.clock.now)

    await api.marketplace.erase_member(tx, NURSE)

    assert api.erasures.erased == {NURSE: api.clock.now}
    assert [a.applicant_id for a in api.applications.stored.values()] == [DOCTOR]
    assert api.duties.stored[filled.id].status is DutyStatus.OPEN  # the position is free again
    assert api.duties.stored[filled.id].positions_filled == 0
    assert api.duties.stored[theirs.id].status is DutyStatus.CANCELLED
    withdrawn = [e for e in tx.events if e.name == "application.withdrawn"]
    assert sorted((e.data["id"], e.data["posted_by"]) for e in withdrawn) == sorted(
        [(accepted.id, ADMIN), (waiting.id, OTHER_ADMIN)]
    )
    assert {e.data["cover_letter"] for e in withdrawn} == {""}  # their words go with them
    assert [(e.name, e.subject) for e in tx.events][-1] == (
        "duty.cancelled",
        f"duties/{theirs.id}",
    )
    assert await api.profiles.get(NURSE) is None
    again = api.uow.transaction()
    await api.marketplace.erase_member(again, NURSE)
    assert again.events == []  # nothing more to do


async def test_an_erased_member_can_neither_post_nor_apply(api: FakeApi) -> None:
    duty = await api.marketplace.post_duty(details(), posted_by=ADMIN)
    await api.marketplace.erase_member(api.uow.transaction(), NURSE)
    await api.marketplace.erase_member(api.uow.transaction(), OTHER_ADMIN)
    with pytest.raises(AccountErased):
        await api.marketplace.apply(duty.id, NURSE, "")
    with pytest.raises(AccountErased):
        await api.marketplace.post_duty(details(), posted_by=OTHER_ADMIN)
    assert list(api.duties.stored) == [duty.id]
    assert api.applications.stored == {}
