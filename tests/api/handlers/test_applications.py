"""Applications over HTTP: applying, the two views, and atomic accepts under concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from api.support import Caller, CallerFactory, duty_payload, problem


async def post_duty(admin: Caller, **fields: Any) -> dict[str, Any]:
    duty: dict[str, Any] = await admin.json("POST", "/api/duties", 201, json=duty_payload(**fields))
    return duty


async def apply(applicant: Caller, duty_id: str, letter: str = "I can cover.") -> dict[str, Any]:
    application: dict[str, Any] = await applicant.json(
        "POST", f"/api/duties/{duty_id}/applications", 201, json={"cover_letter": letter}
    )
    return application


async def test_a_nurse_applies_and_the_application_is_pending(
    caller: CallerFactory, db: AsyncDatabase[Any]
) -> None:
    duty = await post_duty(caller("hospital_admin"))
    nurse = caller("nurse")
    application = await apply(nurse, duty["id"], "Ten years in ICU.")
    assert application["duty_id"] == duty["id"]
    assert application["applicant_id"] == nurse.user_id
    assert application["status"] == "PENDING"
    assert application["cover_letter"] == "Ten years in ICU."
    assert application["created_at"].endswith("Z")
    event = await db["outbox"].find_one({"routing_key": "application.submitted"})
    assert event is not None
    assert event["event"]["data"]["posted_by"] == duty["posted_by"]


async def test_applying_twice_is_409_and_stores_one_application(
    caller: CallerFactory, db: AsyncDatabase[Any]
) -> None:
    duty = await post_duty(caller("hospital_admin"))
    doctor = caller("doctor")
    await apply(doctor, duty["id"])
    resp = await doctor.post(f"/api/duties/{duty['id']}/applications", json={"cover_letter": "x"})
    await problem(resp, 409)
    assert await db["applications"].count_documents({}) == 1


async def test_concurrent_duplicate_applications_store_one(
    caller: CallerFactory, db: AsyncDatabase[Any]
) -> None:
    duty = await post_duty(caller("hospital_admin"))
    doctor = caller("doctor")
    path = f"/api/duties/{duty['id']}/applications"
    replies = await asyncio.gather(*(doctor.post(path, json={}) for _ in range(4)))
    assert sorted(r.status for r in replies) == [201, 409, 409, 409]
    assert await db["applications"].count_documents({}) == 1


async def test_an_admin_cannot_apply(caller: CallerFactory) -> None:
    duty = await post_duty(caller("hospital_admin"))
    resp = await caller("hospital_admin").post(
        f"/api/duties/{duty['id']}/applications", json={"cover_letter": "Me?"}
    )
    await problem(resp, 403)


async def test_applying_to_an_unknown_duty_is_404(caller: CallerFactory) -> None:
    resp = await caller("nurse").post("/api/duties/nope/applications", json={"cover_letter": ""})
    await problem(resp, 404)


async def test_a_cover_letter_over_5000_characters_is_refused(caller: CallerFactory) -> None:
    duty = await post_duty(caller("hospital_admin"))
    path = f"/api/duties/{duty['id']}/applications"
    await problem(await caller("nurse").post(path, json={"cover_letter": "x" * 5001}), 400)
    await apply(caller("nurse"), duty["id"], "x" * 5000)


async def test_only_the_poster_sees_the_applications_to_a_duty(caller: CallerFactory) -> None:
    admin = caller("hospital_admin")
    duty = await post_duty(admin)
    first, second = caller("nurse"), caller("doctor")
    ids = [(await apply(first, duty["id"]))["id"], (await apply(second, duty["id"]))["id"]]
    page = await admin.json("GET", f"/api/duties/{duty['id']}/applications")
    assert [a["id"] for a in page["items"]] == ids  # oldest first
    assert page["next_cursor"] is None
    path = f"/api/duties/{duty['id']}/applications"
    await problem(await caller("hospital_admin").get(path), 403)
    await problem(await first.get(path), 403)


async def test_applicants_see_their_own_applications_newest_first(caller: CallerFactory) -> None:
    admin, nurse = caller("hospital_admin"), caller("nurse")
    duties = [await post_duty(admin) for _ in range(3)]
    ids = [(await apply(nurse, duty["id"]))["id"] for duty in duties]
    await apply(caller("nurse"), duties[0]["id"])
    first = await nurse.json("GET", "/api/applications/me", params={"limit": "2"})
    rest = await nurse.json(
        "GET", "/api/applications/me", params={"limit": "2", "cursor": first["next_cursor"]}
    )
    assert [a["id"] for a in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None


async def test_accepting_fills_the_duty_at_capacity_and_then_refuses(
    caller: CallerFactory, db: AsyncDatabase[Any]
) -> None:
    admin = caller("hospital_admin")
    duty = await post_duty(admin, positions_needed=2)
    applications = [await apply(caller("nurse"), duty["id"]) for _ in range(3)]
    for application in applications[:2]:
        accepted = await admin.json("POST", f"/api/applications/{application['id']}/accept")
        assert accepted["status"] == "ACCEPTED"
    await problem(await admin.post(f"/api/applications/{applications[2]['id']}/accept"), 409)
    shown = await admin.json("GET", f"/api/duties/{duty['id']}")
    assert (shown["status"], shown["positions_filled"]) == ("FILLED", 2)
    resp = await caller("doctor").post(f"/api/duties/{duty['id']}/applications", json={})
    await problem(resp, 409)
    assert await db["outbox"].count_documents({"routing_key": "duty.filled"}) == 1
    assert await db["outbox"].count_documents({"routing_key": "application.accepted"}) == 2


async def test_accept_never_overfills_a_duty_under_concurrency(
    caller: CallerFactory, db: AsyncDatabase[Any]
) -> None:
    admin = caller("hospital_admin")
    duty = await post_duty(admin, positions_needed=2)
    applications = [await apply(caller("nurse"), duty["id"]) for _ in range(6)]
    replies = await asyncio.gather(
        *(admin.post(f"/api/applications/{a['id']}/accept") for a in applications)
    )
    assert Counter(r.status for r in replies) == {200: 2, 409: 4}
    for reply in replies:
        if reply.status == 409:
            await problem(reply, 409)
    shown = await admin.json("GET", f"/api/duties/{duty['id']}")
    assert (shown["status"], shown["positions_filled"]) == ("FILLED", 2)
    assert await db["applications"].count_documents({"status": "ACCEPTED"}) == 2
    assert await db["applications"].count_documents({"status": "PENDING"}) == 4
    assert await db["outbox"].count_documents({"routing_key": "application.accepted"}) == 2
    assert await db["outbox"].count_documents({"routing_key": "duty.filled"}) == 1


async def test_accepting_twice_is_409(caller: CallerFactory) -> None:
    admin = caller("hospital_admin")
    duty = await post_duty(admin, positions_needed=3)
    application = await apply(caller("doctor"), duty["id"])
    await admin.json("POST", f"/api/applications/{application['id']}/accept")
    await problem(await admin.post(f"/api/applications/{application['id']}/accept"), 409)
    shown = await admin.json("GET", f"/api/duties/{duty['id']}")
    assert shown["positions_filled"] == 1


@pytest.mark.parametrize("action", ["accept", "reject"])
async def test_only_the_poster_decides_and_others_do_not_learn_the_application_exists(
    caller: CallerFactory, action: str
) -> None:
    duty = await post_duty(caller("hospital_admin"))
    application = await apply(caller("doctor"), duty["id"])
    path = f"/api/applications/{application['id']}/{action}"
    await problem(await caller("hospital_admin").post(path), 404)
    await problem(await caller("hospital_admin").post("/api/applications/nope/accept"), 404)
    await problem(await caller("doctor").post(path), 403)


async def test_a_rejected_application_cannot_be_accepted(caller: CallerFactory) -> None:
    admin = caller("hospital_admin")
    duty = await post_duty(admin)
    application = await apply(caller("doctor"), duty["id"])
    rejected = await admin.json("POST", f"/api/applications/{application['id']}/reject")
    assert rejected["status"] == "REJECTED"
    await problem(await admin.post(f"/api/applications/{application['id']}/accept"), 409)


async def test_withdrawing_an_accepted_application_reopens_a_filled_duty(
    caller: CallerFactory,
) -> None:
    admin, nurse = caller("hospital_admin"), caller("nurse")
    duty = await post_duty(admin, positions_needed=1)
    application = await apply(nurse, duty["id"])
    await admin.json("POST", f"/api/applications/{application['id']}/accept")
    assert (await admin.json("GET", f"/api/duties/{duty['id']}"))["status"] == "FILLED"
    await problem(
        await caller("nurse").post(f"/api/applications/{application['id']}/withdraw"), 404
    )
    withdrawn = await nurse.json("POST", f"/api/applications/{application['id']}/withdraw")
    assert withdrawn["status"] == "WITHDRAWN"
    shown = await admin.json("GET", f"/api/duties/{duty['id']}")
    assert (shown["status"], shown["positions_filled"]) == ("OPEN", 0)
    await problem(await nurse.post(f"/api/applications/{application['id']}/withdraw"), 409)
