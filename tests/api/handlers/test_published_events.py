"""Every event api publishes, captured from its outbox after the real use cases ran, matches
its catalogue entry and payload model."""

from __future__ import annotations

from typing import Any

from event_samples import assert_conforms
from pymongo.asynchronous.database import AsyncDatabase

from api.support import CallerFactory, duty_payload
from nocturnal.shared.events import EVENTS


async def test_every_event_api_publishes_matches_its_schema(
    caller: CallerFactory, db: AsyncDatabase[Any]
) -> None:
    admin, nurse, doctor = caller("hospital_admin"), caller("nurse"), caller("doctor")
    duty = await admin.json("POST", "/api/duties", 201, json=duty_payload(positions_needed=1))
    await admin.json("PATCH", f"/api/duties/{duty['id']}", 200, json={"title": "ICU, nights"})
    applied = f"/api/duties/{duty['id']}/applications"
    taken = await nurse.json("POST", applied, 201, json={"cover_letter": "Ten years in ICU."})
    refused = await doctor.json("POST", applied, 201, json={"cover_letter": ""})
    await admin.json("POST", f"/api/applications/{refused['id']}/reject", 200)
    await admin.json("POST", f"/api/applications/{taken['id']}/accept", 200)  # fills the duty
    await nurse.json("POST", f"/api/applications/{taken['id']}/withdraw", 200)
    await admin.json("POST", f"/api/duties/{duty['id']}/cancel", 200)

    published = [assert_conforms(entry["event"]) async for entry in db["outbox"].find()]

    assert set(published) == {name for name, spec in EVENTS.items() if spec.publisher == "api"}
