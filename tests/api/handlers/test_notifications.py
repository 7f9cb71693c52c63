"""Notifications made by consuming api's own duty and application events through RabbitMQ."""

from __future__ import annotations

from typing import Any

from polling import eventually

from api.support import Caller, CallerFactory, duty_payload, problem


async def notifications_of(user: Caller, count: int) -> list[dict[str, Any]]:
    """The user's notifications once there are `count`."""
    items: list[dict[str, Any]] = []

    async def arrived() -> bool:
        nonlocal items
        items = (await user.json("GET", "/api/notifications"))["items"]
        return len(items) >= count

    await eventually(arrived, f"{count} notifications")
    return items


async def test_poster_and_applicant_are_notified_along_the_way(caller: CallerFactory) -> None:
    admin, nurse = caller("hospital_admin"), caller("nurse")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload(positions_needed=1))
    application = await nurse.json(
        "POST", f"/api/duties/{duty['id']}/applications", 201, json={"cover_letter": "Hi"}
    )
    await admin.json("POST", f"/api/applications/{application['id']}/accept")

    (booked,) = await notifications_of(nurse, 1)
    assert booked["kind"] == "application.accepted"
    assert (booked["duty_id"], booked["application_id"]) == (duty["id"], application["id"])
    assert duty["title"] in booked["message"]
    assert booked["read"] is False
    admin_kinds = {n["kind"] for n in await notifications_of(admin, 2)}
    assert admin_kinds == {"application.submitted", "duty.filled"}


async def test_applicants_are_told_when_a_duty_is_cancelled(caller: CallerFactory) -> None:
    admin = caller("hospital_admin")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload())
    applicants = [caller("doctor"), caller("nurse")]
    for applicant in applicants:
        await applicant.json("POST", f"/api/duties/{duty['id']}/applications", 201, json={})
    await admin.json("POST", f"/api/duties/{duty['id']}/cancel")
    for applicant in applicants:
        (cancelled,) = await notifications_of(applicant, 1)
        assert cancelled["kind"] == "duty.cancelled"


async def test_marking_read_is_for_the_recipient_only(caller: CallerFactory) -> None:
    admin, doctor = caller("hospital_admin"), caller("doctor")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload())
    await doctor.json("POST", f"/api/duties/{duty['id']}/applications", 201, json={})
    (submitted,) = await notifications_of(admin, 1)
    path = f"/api/notifications/{submitted['id']}/read"
    await problem(await doctor.post(path), 404)
    read = await admin.json("POST", path)
    assert read["read"] is True
    again = await admin.json("POST", path)
    assert again["read_at"] == read["read_at"]
    await problem(await admin.post("/api/notifications/nope/read"), 404)
