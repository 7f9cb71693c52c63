"""Duties over HTTP: posting (hospital admins only), reading, listing, revising, cancelling."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase

from api.support import CallerFactory, duty_payload, new_ip, problem


def day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


async def test_an_admin_posts_a_duty_and_gets_its_pay_computed(
    caller: CallerFactory, db: AsyncDatabase[Any]
) -> None:
    admin = caller("hospital_admin")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload(hourly_rate=95))
    assert duty["status"] == "OPEN"
    assert duty["positions_filled"] == 0
    assert duty["posted_by"] == admin.user_id
    assert duty["duration_hours"] == 8
    assert duty["total_compensation"] == 760
    assert duty["platform_fee_percent"] == 5
    assert duty["net_payment"] == 722
    assert duty["created_at"].endswith("Z")
    assert await admin.json("GET", f"/api/duties/{duty['id']}") == duty
    outbox = await db["outbox"].find_one({"routing_key": "duty.posted"})
    assert outbox is not None
    assert outbox["event"]["data"]["id"] == duty["id"]


async def test_fractional_rates_and_hours_are_computed_to_the_cent(caller: CallerFactory) -> None:
    admin = caller("hospital_admin")
    body = duty_payload(start_time="07:30", end_time="19:45", hourly_rate=48.5)
    duty = await admin.json("POST", "/api/duties", 201, json=body)
    assert (duty["duration_hours"], duty["total_compensation"], duty["net_payment"]) == (
        12.25,
        594.13,
        564.42,
    )


@pytest.mark.parametrize("role", ["doctor", "nurse"])
async def test_clinicians_cannot_post_duties(
    caller: CallerFactory, db: AsyncDatabase[Any], role: str
) -> None:
    resp = await caller(role).post("/api/duties", json=duty_payload())
    await problem(resp, 403)
    assert await db["duties"].count_documents({}) == 0


async def test_posting_without_a_token_is_401_with_a_bearer_challenge(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    resp = await client.post("/api/duties", json=duty_payload(), headers={"X-Real-IP": new_ip()})
    await problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert await db["duties"].count_documents({}) == 0


async def test_an_unknown_duty_is_a_404_problem(caller: CallerFactory) -> None:
    await problem(await caller("nurse").get("/api/duties/nope"), 404)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("date", "2026-13-01"),
        ("date", "01/12/2026"),
        ("date", "2026-12-01T22:00:00"),
        ("start_time", "7:30"),
        ("start_time", "24:00"),
        ("end_time", "22:00:00"),
        ("hourly_rate", 0),
        ("hourly_rate", -5),
        ("hourly_rate", 10.001),
        ("hourly_rate", "95"),
        ("hourly_rate", True),
        ("positions_needed", 0),
        ("positions_needed", 51),
        ("positions_needed", 2.5),
        ("urgency", "CRITICAL"),
        ("urgency", "urgent"),
        ("title", ""),
        ("title", "   "),
        ("title", "x" * 201),
        ("requirements", {"minimum_experience": -1, "required_skills": []}),
        ("requirements", {"minimum_experience": 1, "required_skills": [""]}),
        ("requirements", {"minimum_experience": 1, "required_skills": ["x"] * 51}),
        ("requirements", {"minimum_experience": 1, "years": 3}),
    ],
)
async def test_every_duty_field_is_validated(
    caller: CallerFactory, db: AsyncDatabase[Any], field: str, value: Any
) -> None:
    resp = await caller("hospital_admin").post("/api/duties", json=duty_payload(**{field: value}))
    body = await problem(resp, 400)
    assert body["errors"][0]["field"].split(".")[0] == field
    assert await db["duties"].count_documents({}) == 0


async def test_equal_start_and_end_and_past_dates_are_refused(caller: CallerFactory) -> None:
    admin = caller("hospital_admin")
    body = await problem(
        await admin.post("/api/duties", json=duty_payload(start_time="08:00", end_time="08:00")),
        400,
    )
    assert body["errors"] == [{"field": "end_time", "message": "must differ from start_time"}]
    body = await problem(await admin.post("/api/duties", json=duty_payload(date=day(-3))), 400)
    assert body["errors"][0]["field"] == "date"


async def post_schedule(caller: CallerFactory) -> list[dict[str, Any]]:
    admin = caller("hospital_admin")
    plans = [
        {"date": day(3), "start_time": "08:00", "specialty": "Neurology", "urgency": "NORMAL"},
        {"date": day(1), "start_time": "22:00", "specialty": "Critical Care", "urgency": "URGENT"},
        {
            "date": day(1),
            "start_time": "20:00",
            "specialty": "Critical Care",
            "location": "Leeds",
            "urgency": "NORMAL",
        },
        {"date": day(2), "start_time": "19:30", "specialty": "Paediatrics", "urgency": "EMERGENCY"},
        {"date": day(1), "start_time": "20:00", "specialty": "critical care", "urgency": "NORMAL"},
    ]
    return [await admin.json("POST", "/api/duties", 201, json=duty_payload(**p)) for p in plans]


async def test_listing_pages_through_every_duty_soonest_first(caller: CallerFactory) -> None:
    posted = await post_schedule(caller)
    reader = caller("nurse")
    seen: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "2"}
    for _ in range(5):
        page = await reader.json("GET", "/api/duties", params=params)
        assert len(page["items"]) <= 2
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        params = {"limit": "2", "cursor": page["next_cursor"]}
    assert sorted(d["id"] for d in seen) == sorted(d["id"] for d in posted)
    keys = [(d["date"], d["start_time"], d["id"]) for d in seen]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"specialty": "CRITICAL care"}, 3),
        ({"urgency": "EMERGENCY"}, 1),
        ({"location": "leeds"}, 1),
        ({"status": "OPEN"}, 5),
        ({"status": "FILLED"}, 0),
        ({"date_from": day(2)}, 2),
        ({"date_to": day(1)}, 3),
        ({"date_from": day(2), "date_to": day(2)}, 1),
        ({"specialty": "Critical Care", "urgency": "URGENT", "date_to": day(1)}, 1),
    ],
)
async def test_listing_filters(
    caller: CallerFactory, params: dict[str, str], expected: int
) -> None:
    await post_schedule(caller)
    page = await caller("doctor").json("GET", "/api/duties", params=params)
    assert len(page["items"]) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"status": "open"},
        {"urgency": "SOON"},
        {"date_from": "tomorrow"},
        {"date_to": "2026-02-30"},
        {"date_from": "2026-12-02", "date_to": "2026-12-01"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "²"},
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJ4Il0"},  # ["x"]: valid encoding, wrong key
        {"cursor": "W1tb" * 1000},  # "[[[" x 1000: too deep to decode
        {"sort": "price"},
    ],
)
async def test_bad_query_parameters_are_400(caller: CallerFactory, params: dict[str, str]) -> None:
    await problem(await caller("doctor").get("/api/duties", params=params), 400)


async def test_the_poster_revises_an_open_duty_and_pay_is_recomputed(
    caller: CallerFactory, db: AsyncDatabase[Any]
) -> None:
    admin = caller("hospital_admin")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload(hourly_rate=100))
    revised = await admin.json(
        "PATCH", f"/api/duties/{duty['id']}", json={"end_time": "08:00", "title": "Long night"}
    )
    assert (revised["title"], revised["duration_hours"], revised["total_compensation"]) == (
        "Long night",
        10,
        1000,
    )
    assert await db["outbox"].count_documents({"routing_key": "duty.updated"}) == 1


async def test_another_admin_cannot_revise_or_cancel_a_duty(caller: CallerFactory) -> None:
    duty = await caller("hospital_admin").json("POST", "/api/duties", 201, json=duty_payload())
    other = caller("hospital_admin")
    await problem(await other.patch(f"/api/duties/{duty['id']}", json={"title": "Mine"}), 403)
    await problem(await other.post(f"/api/duties/{duty['id']}/cancel"), 403)


async def test_a_cancelled_duty_cannot_be_revised_or_cancelled_again(
    caller: CallerFactory,
) -> None:
    admin = caller("hospital_admin")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload())
    cancelled = await admin.json("POST", f"/api/duties/{duty['id']}/cancel")
    assert cancelled["status"] == "CANCELLED"
    await problem(await admin.patch(f"/api/duties/{duty['id']}", json={"title": "x"}), 409)
    await problem(await admin.post(f"/api/duties/{duty['id']}/cancel"), 409)


async def test_a_patch_with_null_or_unknown_fields_is_400(caller: CallerFactory) -> None:
    admin = caller("hospital_admin")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload())
    await problem(await admin.patch(f"/api/duties/{duty['id']}", json={"title": None}), 400)
    await problem(await admin.patch(f"/api/duties/{duty['id']}", json={"status": "FILLED"}), 400)
    assert await admin.json("GET", f"/api/duties/{duty['id']}") == duty
