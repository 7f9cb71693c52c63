"""`user.deleted` erases the user's data in api and frees what they held."""

from __future__ import annotations

from typing import Any

from polling import eventually
from pymongo.asynchronous.database import AsyncDatabase

from api.conftest import Publish
from api.support import CallerFactory, duty_payload, problem, register


async def test_a_deleted_clinician_loses_profile_and_applications_and_frees_the_position(
    caller: CallerFactory, publish: Publish, db: AsyncDatabase[Any]
) -> None:
    admin, nurse = caller("hospital_admin"), caller("nurse")
    await register(publish, nurse, "Grace Lee")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload(positions_needed=1))
    application = await nurse.json("POST", f"/api/duties/{duty['id']}/applications", 201, json={})
    await admin.json("POST", f"/api/applications/{application['id']}/accept")

    async def notified() -> bool:
        return bool((await nurse.json("GET", "/api/notifications"))["items"])

    await eventually(notified, "the acceptance notification")
    event = await publish("user.deleted", {"user_id": nurse.user_id})
    await publish("user.deleted", {"user_id": nurse.user_id})  # erasing twice is harmless

    async def erased() -> bool:
        return await db["inbox"].find_one({"_id": event.id}) is not None

    await eventually(erased, "user.deleted processed")
    await problem(await nurse.get("/api/profiles/me"), 404)
    assert (await nurse.json("GET", "/api/applications/me"))["items"] == []
    shown = await admin.json("GET", f"/api/duties/{duty['id']}")
    assert (shown["status"], shown["positions_filled"]) == ("OPEN", 0)
    assert await db["notifications"].count_documents({"user_id": nurse.user_id}) == 0


async def test_a_deleted_admin_s_open_duties_are_cancelled(
    caller: CallerFactory, publish: Publish, db: AsyncDatabase[Any]
) -> None:
    admin = caller("hospital_admin")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload())
    event = await publish("user.deleted", {"user_id": admin.user_id})

    async def erased() -> bool:
        return await db["inbox"].find_one({"_id": event.id}) is not None

    await eventually(erased, "user.deleted processed")
    shown = await caller("nurse").json("GET", f"/api/duties/{duty['id']}")
    assert shown["status"] == "CANCELLED"
