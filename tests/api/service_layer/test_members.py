"""Profile and notification use cases on in-memory repositories."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fakes import START

from api.fakes import FakeApi
from nocturnal.api.domain.applications import Application, ApplicationStatus
from nocturnal.api.domain.errors import NotFound
from nocturnal.shared.paging import PageRequest


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


async def test_a_profile_shows_a_signed_photo_url_and_none_without_a_photo(api: FakeApi) -> None:
    tx = api.uow.transaction()
    with pytest.raises(NotFound):
        await api.profile_service.profile("u1")
    await api.profile_service.register(tx, "u1", name="Amara", role="nurse", at=api.clock.now)
    profile, photo_url = await api.profile_service.profile("u1")
    assert (profile.name, photo_url, api.photos.calls) == ("Amara", None, 0)
    api.photos.files.add("f1")
    await api.profile_service.photo_uploaded(tx, "u1", "f1", "profile-photo", api.clock.now)
    assert (await api.profile_service.profile("u1"))[1] == "https://files.example/f1"


async def test_only_a_newer_profile_photo_replaces_the_shown_one(api: FakeApi) -> None:
    tx, at = api.uow.transaction(), api.clock.now
    await api.profile_service.register(tx, "u1", name="A", role="doctor", at=at)
    await api.profile_service.photo_uploaded(tx, "u1", "f1", "profile-photo", at)
    await api.profile_service.photo_uploaded(tx, "u1", "f0", "profile-photo", at - timedelta(1))
    await api.profile_service.photo_uploaded(tx, "u1", "doc", "document", at + timedelta(1))
    assert (await api.profiles.get("u1")).photo_file_id == "f1"  # type: ignore[union-attr]
    await api.profile_service.photo_deleted(tx, "u1", "f1", "profile-photo")
    assert (await api.profiles.get("u1")).photo_file_id is None  # type: ignore[union-attr]


async def test_an_edit_changes_the_fields_sent_and_no_change_reads_the_profile(
    api: FakeApi,
) -> None:
    with pytest.raises(NotFound):
        await api.profile_service.edit("ghost", {"bio": "x"})
    await api.profile_service.register(
        api.uow.transaction(), "u1", name="A", role="nurse", at=api.clock.now
    )
    edited, _ = await api.profile_service.edit("u1", {"bio": "Nights", "skills": ["ALS"]})
    assert (edited.bio, edited.skills) == ("Nights", ("ALS",))
    assert (await api.profile_service.edit("u1", {}))[0] == edited


async def test_a_cancelled_duty_notifies_its_live_applicants_once(api: FakeApi) -> None:
    duty = {"id": "d1", "title": "Night cover", "posted_by": "admin"}
    await api.applications.insert(_application("a1", "d1", "nurse"))
    tx = api.uow.transaction()
    for _ in range(2):  # a redelivered event stores nothing new
        await api.notification_service.notify(tx, "e1", "duty.cancelled", duty, api.clock.now)
    page = await api.notification_service.page("nurse", PageRequest())
    assert [n.message for n in page.items] == ["“Night cover” was cancelled."]


async def test_only_the_recipient_marks_a_notification_read(api: FakeApi) -> None:
    data = {"id": "a1", "duty_id": "d1", "duty_title": "Night", "applicant_id": "nurse"}
    tx = api.uow.transaction()
    await api.notification_service.notify(tx, "e1", "application.accepted", data, api.clock.now)
    [notification] = (await api.notification_service.page("nurse", PageRequest())).items
    with pytest.raises(NotFound):
        await api.notification_service.mark_read(notification.id, "someone-else")
    read = await api.notification_service.mark_read(notification.id, "nurse")
    assert read.read_at == api.clock.now
    api.clock.advance(60)
    assert (
        await api.notification_service.mark_read(notification.id, "nurse")
    ).read_at == read.read_at


async def test_nothing_is_stored_for_an_erased_member_by_events_that_arrive_late(
    api: FakeApi,
) -> None:
    await api.marketplace.erase_member(api.uow.transaction(), "u1")
    tx, at = api.uow.transaction(), api.clock.now
    await api.profile_service.register(tx, "u1", name="Amara", role="nurse", at=at)
    await api.profile_service.photo_uploaded(tx, "u1", "f1", "profile-photo", at)
    assert await api.profiles.get("u1") is None
    accepted = {"id": "a1", "duty_id": "d1", "duty_title": "Night", "applicant_id": "u1"}
    await api.notification_service.notify(tx, "e1", "application.accepted", accepted, at)
    assert (await api.notification_service.page("u1", PageRequest())).items == []
    await api.notification_service.notify(
        tx, "e2", "application.accepted", accepted | {"applicant_id": "u2"}, at
    )
    assert len((await api.notification_service.page("u2", PageRequest())).items) == 1
    # Claimed, not merely looked up: a concurrent erasure of the recipient conflicts with it.
    assert api.erasures.claims[-1] == "u2"


def _application(application_id: str, duty_id: str, applicant_id: str) -> Application:
    return Application(
        application_id, duty_id, applicant_id, ApplicationStatus.PENDING, "", START, START
    )
