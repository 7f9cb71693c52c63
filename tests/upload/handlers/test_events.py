"""Consumed events: `user.deleted` erases the user's files; `auth.tokens_revoked` ends tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
from aiohttp import web
from aiohttp.test_utils import TestClient
from polling import eventually
from pymongo import AsyncMongoClient
from token_issuer import KeyServer

from nocturnal.shared.events import CloudEvent, new_event
from nocturnal.shared.events.publisher import to_message
from nocturnal.upload.app import create_app
from nocturnal.upload.settings import UploadSettings

from ..support import FileEvents, TokenFactory
from .actions import PHOTO, problem, stored_objects, upload, upload_png
from .multipart_bodies import single

AppClientFactory = Callable[[web.Application], Awaitable[TestClient]]


async def publish(amqp_url: str, exchange: str, event: CloudEvent) -> None:
    """Publish `event` as auth does (routing key = event name)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange)
        await target.publish(to_message(event), routing_key=event.name)


async def test_a_deleted_users_files_are_erased_and_others_kept(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    user: str,
    token: TokenFactory,
    samples: dict[str, bytes],
    amqp_url: str,
    file_events: FileEvents,
) -> None:
    doomed = [await upload_png(client, auth, samples) for _ in range(2)]
    other_auth = {"Authorization": f"Bearer {token('survivor')}"}
    kept = await upload_png(client, other_auth, samples)
    deleted = new_event("user.deleted", {"user_id": user}, service="auth", subject=user)
    await publish(amqp_url, settings.events_exchange, deleted)

    async def erased() -> bool:
        listing = await (await client.get("/api/uploads", headers=auth)).json()
        return bool(listing["items"] == [])

    await eventually(erased, "the files to be erased")
    assert [p.name for p in stored_objects(settings)] == [f"{kept['id']}.png"]
    assert (await client.get(f"/api/uploads/{kept['id']}", headers=other_auth)).status == 200
    for file in doomed:
        event = await file_events.wait_for("file.deleted", file["id"])
        assert event.data["owner_id"] == user
    # A redelivered (or repeated) deletion finds nothing left to do and breaks nothing.
    await publish(amqp_url, settings.events_exchange, deleted)
    again = new_event("user.deleted", {"user_id": user}, service="auth", subject=user)
    await publish(amqp_url, settings.events_exchange, again)
    await asyncio.sleep(0.5)
    assert [p.name for p in stored_objects(settings)] == [f"{kept['id']}.png"]
    assert (await client.get("/health/ready")).status == 200


async def test_tokens_issued_before_a_revocation_are_rejected(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    user: str,
    token: TokenFactory,
    amqp_url: str,
) -> None:
    assert (await client.get("/api/uploads", headers=auth)).status == 200
    revoked = new_event(
        "auth.tokens_revoked",
        {"user_id": user, "not_before": int(time.time()) + 1},
        service="auth",
        subject=user,
    )
    await publish(amqp_url, settings.events_exchange, revoked)

    async def rejected() -> bool:
        response: Any = await client.get("/api/uploads", headers=auth)
        return bool(response.status == 401)

    await eventually(rejected, "the token to be rejected")
    await asyncio.sleep(1.1)
    fresh = {"Authorization": f"Bearer {token(user)}"}
    assert (await client.get("/api/uploads", headers=fresh)).status == 200


async def test_revocations_in_force_at_start_are_loaded_from_auth(
    aiohttp_client: AppClientFactory,
    settings: UploadSettings,
    issuer: KeyServer,
    auth: dict[str, str],
    user: str,
    file_events: FileEvents,
) -> None:
    issuer.revoked[user] = int(time.time()) + 1
    try:
        client = await aiohttp_client(create_app(settings))
        assert (await client.get("/api/uploads", headers=auth)).status == 401
    finally:
        del issuer.revoked[user]


async def test_an_upload_still_streaming_when_its_owner_is_erased_leaves_nothing_behind(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    user: str,
    samples: dict[str, bytes],
    amqp_url: str,
    mongo_client: AsyncMongoClient[Any],
) -> None:
    """The account is deleted while the bytes arrive and before the token is refused (the
    revocation has not reached this instance): the upload is refused and its object deleted."""
    deleted = new_event("user.deleted", {"user_id": user}, service="auth", subject=user)
    inbox = mongo_client[settings.mongo_database]["inbox"]
    data = single(samples["png"], filename="me.png")

    async def erased_midway() -> AsyncIterator[bytes]:
        yield data[:200]
        await publish(amqp_url, settings.events_exchange, deleted)

        async def processed() -> bool:
            return await inbox.find_one({"_id": deleted.id}) is not None

        await eventually(processed, "user.deleted processed")
        yield data[200:]

    refused = await problem(await upload(client, PHOTO, erased_midway(), auth), 404)
    assert refused["detail"] == "this account no longer exists"
    assert stored_objects(settings) == []
    listing = await (await client.get("/api/uploads", headers=auth)).json()
    assert listing["items"] == []
