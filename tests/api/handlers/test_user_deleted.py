"""`user.deleted` erases the user's data in api and frees what they held; nothing of theirs is
stored again afterwards."""

from __future__ import annotations

from typing import Any

from polling import WAIT_S, eventually
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
    again = await publish("user.deleted", {"user_id": nurse.user_id})  # erasing twice is harmless

    async def erased() -> bool:
        return await db["inbox"].count_documents({"_id": {"$in": [event.id, again.id]}}) == 2

    # Handled at once, the two erasures conflict and one goes back to the queue for a retry.
    await eventually(erased, "both user.deleted processed", within=3 * WAIT_S)
    await problem(await nurse.get("/api/profiles/me"), 404)
    assert (await nurse.json("GET", "/api/applications/me"))["items"] == []
    assert (await admin.json("GET", f"/api/duties/{duty['id']}/applications"))["items"] == []
    shown = await admin.json("GET", f"/api/duties/{duty['id']}")
    assert (shown["status"], shown["positions_filled"]) == ("OPEN", 0)
    assert await db["notifications"].count_documents({"user_id": nurse.user_id}) == 0

    async def admin_told() -> bool:
        notices = (await admin.json("GET", "/api/notifications"))["items"]
        return any(n["kind"] == "application.withdrawn" for n in notices)

    await eventually(admin_told, "the poster told of the withdrawal")
    assert await db["applications"].count_documents({"applicant_id": nurse.user_id}) == 0


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


async def test_nothing_of_an_erased_member_is_stored_again(
    caller: CallerFactory, publish: Publish, db: AsyncDatabase[Any]
) -> None:
    """Their token may still work for a moment (the revocation travels separately), and events
    about them may arrive late: neither brings their data back."""
    admin, nurse = caller("hospital_admin"), caller("nurse")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload())
    event = await publish("user.deleted", {"user_id": nurse.user_id})

    async def erased() -> bool:
        return await db["inbox"].find_one({"_id": event.id}) is not None

    await eventually(erased, "user.deleted processed")
    refused = await problem(
        await nurse.post(f"/api/duties/{duty['id']}/applications", json={}), 404
    )
    assert refused["detail"] == "this account no longer exists"
    late = await publish(
        "user.registered",
        {"user_id": nurse.user_id, "email": "n@example.org", "name": "N", "role": "nurse"},
    )
    photo = await publish(
        "file.uploaded",
        {"file_id": "f1", "owner_id": nurse.user_id, "kind": "profile-photo",
         "content_type": "image/png", "size": 10, "sha256": "ab" * 32},
    )  # fmt: skip

    async def handled() -> bool:
        return await db["inbox"].count_documents({"_id": {"$in": [late.id, photo.id]}}) == 2

    await eventually(handled, "the late events handled")
    assert await db["profiles"].count_documents({"_id": nurse.user_id}) == 0
    assert await db["applications"].count_documents({"applicant_id": nurse.user_id}) == 0
