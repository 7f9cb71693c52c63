"""One clock and one way to write times: RFC 3339, UTC, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from timestamps import is_rfc3339_millis

from nocturnal.shared.clock import rfc3339, to_millis, utc_now
from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.events import new_event, parse
from nocturnal.shared.http.app import create_service_app, json_response

MOMENT = datetime(2026, 11, 30, 22, 0, 5, 123456, tzinfo=UTC)


def test_times_are_written_in_utc_with_three_fractional_digits() -> None:
    assert rfc3339(MOMENT) == "2026-11-30T22:00:05.123Z"
    assert rfc3339(MOMENT.replace(microsecond=0)) == "2026-11-30T22:00:05.000Z"
    paris = MOMENT.astimezone(timezone(timedelta(hours=1)))
    assert rfc3339(paris) == "2026-11-30T22:00:05.123Z"


def test_below_a_millisecond_is_truncated_not_rounded() -> None:
    assert rfc3339(MOMENT.replace(microsecond=999_999)) == "2026-11-30T22:00:05.999Z"
    assert to_millis(MOMENT) == MOMENT.replace(microsecond=123_000)


def test_now_is_utc_at_millisecond_precision() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


async def test_a_time_in_any_json_response_is_written_the_one_way(
    aiohttp_client: Any,
) -> None:
    async def handler(_: web.Request) -> web.Response:
        return json_response({"at": MOMENT, "nested": [{"until": MOMENT}]})

    app = create_service_app(ServiceSettings(), service="test")
    app.router.add_get("/times", handler)
    client: TestClient = await aiohttp_client(app)
    body = await (await client.get("/times")).json()
    assert body == {
        "at": "2026-11-30T22:00:05.123Z",
        "nested": [{"until": "2026-11-30T22:00:05.123Z"}],
    }


def test_an_event_time_is_written_the_one_way_and_reads_back_equal() -> None:
    event = new_event("user.deleted", {"user_id": "u1"}, service="auth")
    assert event.time.microsecond % 1000 == 0
    assert is_rfc3339_millis(event.model_dump(mode="json")["time"])
    late = event.model_copy(update={"time": MOMENT})
    assert parse(late.to_json()).time == MOMENT.replace(microsecond=123_000)
