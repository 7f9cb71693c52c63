"""Every event auth publishes, captured from its outbox after the real routes ran, matches its
catalogue entry and payload model."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from event_samples import assert_conforms
from pymongo.asynchronous.database import AsyncDatabase

from auth.support import login, new_email, problem, register
from nocturnal.shared.events import EVENTS

UNPUBLISHED = {"user.deleted"}
"""Catalogued auth events without a route yet (account deletion is not built)."""


async def test_every_event_auth_publishes_matches_its_schema(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    email = new_email()
    registered = await register(client, email=email)
    assert (await login(client, email)).status == 200
    await problem(await login(client, email, "not the password"), 401)
    await problem(await login(client, new_email()), 401)
    old = {"refresh_token": registered["refresh_token"]}
    assert (await client.post("/api/auth/refresh", json=old)).status == 200
    await asyncio.sleep(1.1)  # revocation epochs have one-second resolution
    await problem(await client.post("/api/auth/refresh", json=old), 401)  # reuse: revoked

    published = [assert_conforms(entry["event"]) async for entry in db["outbox"].find()]

    expected = {name for name, spec in EVENTS.items() if spec.publisher == "auth"} - UNPUBLISHED
    assert set(published) == expected
    failed = db["outbox"].find({"routing_key": "user.login_failed"})
    reasons = sorted([entry["event"]["data"]["reason"] async for entry in failed])
    assert reasons == ["unknown_email", "wrong_password"]
