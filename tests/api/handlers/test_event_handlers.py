"""The api's event handlers on in-memory repositories: parse the data, call the use case."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.fakes import FakeApi
from nocturnal.api.handlers.events import EventHandlers
from nocturnal.shared.events import SUBSCRIPTIONS, new_event


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def handlers(api: FakeApi) -> EventHandlers:
    return EventHandlers(api.marketplace, api.profile_service, api.notification_service)


def test_the_handlers_are_exactly_the_catalogue_entry_of_api(api: FakeApi) -> None:
    assert set(handlers(api).table()) == set(SUBSCRIPTIONS["api"])


async def test_a_registration_makes_a_profile_dated_by_the_event(api: FakeApi) -> None:
    data = {"user_id": "u1", "email": "a@example.org", "name": "Amara", "role": "nurse"}
    event = new_event("user.registered", data, service="auth")
    await handlers(api).table()["user.registered"](event, api.uow.transaction())
    profile = await api.profiles.get("u1")
    assert profile is not None
    assert (profile.name, profile.role) == ("Amara", "nurse")


async def test_malformed_event_data_is_refused_so_the_event_is_retried(api: FakeApi) -> None:
    event = new_event("file.uploaded", {"file_id": 7, "owner_id": "u1"}, service="upload")
    with pytest.raises(ValidationError):
        await handlers(api).table()["file.uploaded"](event, api.uow.transaction())
