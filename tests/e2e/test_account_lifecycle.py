"""End to end through the gateway: a password change, and deleted accounts erased everywhere —
auth, api and upload's databases and the object storage checked directly — with a second
delivery of the same `user.deleted` changing nothing, and the e-mail free to register again."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import aio_pika
import aioboto3
import aiohttp
import pytest
from e2e.support import duty_body
from polling import eventually
from pymongo import AsyncMongoClient
from upload.support import image_bytes

from nocturnal.shared.events import new_event, parse
from nocturnal.shared.events.publisher import to_message
from tools.demo import GatewayClient
from tools.devstack import Stack
from tools.devstack.servers import MOTO_CREDENTIALS

pytestmark = pytest.mark.e2e

ERASED_EVERYWHERE_S = 30.0


@dataclass
class Member:
    """An account made through the gateway."""

    email: str
    password: str
    user_id: str
    token: str


@pytest.fixture
async def gateway(gateway_stack: Stack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient.connect(gateway_stack.base_url) as client:
        yield client


@pytest.fixture
async def mongo(gateway_stack: Stack) -> AsyncIterator[AsyncMongoClient[Any]]:
    """The stack's MongoDB, for looking at each service's database directly."""
    url = next(server.url for server in gateway_stack.servers if server.role == "mongo")
    client: AsyncMongoClient[Any] = AsyncMongoClient(url, tz_aware=True)
    yield client
    await client.close()


async def sign_up(gateway: GatewayClient, role: str, email: str | None = None) -> Member:
    email = email or f"e2e.lifecycle.{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(18)
    body = await gateway.expect_json(
        "POST",
        "/api/auth/register",
        201,
        json_body={"email": email, "password": password, "name": "Sam Taylor", "role": role},
        retry_busy=True,
    )
    return Member(email, password, body["user"]["id"], body["access_token"])


async def upload(gateway: GatewayClient, member: Member, kind: str, fmt: str) -> str:
    """Upload a real image or PDF; the file id."""
    extension, media_type = {"PNG": ("png", "image/png"), "PDF": ("pdf", "application/pdf")}[fmt]
    form = aiohttp.FormData()
    form.add_field("file", image_bytes(fmt), filename=f"mine.{extension}", content_type=media_type)
    body = await gateway.expect_json(
        "POST", "/api/uploads", 201, token=member.token, data=form, params={"kind": kind}
    )
    return str(body["id"])


def a_duty(**changes: Any) -> dict[str, Any]:
    day = date.today() + timedelta(days=30 + secrets.randbelow(300))
    return duty_body(f"E2E lifecycle {secrets.token_hex(3)}", day, **changes)


async def stored_keys(stack: Stack) -> list[str]:
    """Every object key in the stack's storage (the local directory or the S3 bucket)."""
    if stack.storage == "local":
        root = stack.settings.run_dir / "uploads"
        return [str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()]
    endpoint = next(server.url for server in stack.servers if server.role == "s3")
    session = aioboto3.Session(
        aws_access_key_id=MOTO_CREDENTIALS, aws_secret_access_key=MOTO_CREDENTIALS
    )
    async with session.client("s3", endpoint_url=endpoint, region_name="us-east-1") as s3:
        listing = await s3.list_objects_v2(Bucket=stack.settings.s3_bucket)
        return [item["Key"] for item in listing.get("Contents", [])]


async def deleted_events(mongo: AsyncMongoClient[Any], user_id: str) -> list[dict[str, Any]]:
    """The `user.deleted` CloudEvents auth put in its outbox for `user_id`."""
    cursor = mongo["nocturnal_auth"]["outbox"].find(
        {"routing_key": "user.deleted", "event.data.user_id": user_id}
    )
    return [entry["event"] async for entry in cursor]


async def erased_everywhere(mongo: AsyncMongoClient[Any], event_id: str) -> None:
    """Wait until api and upload have both handled the event (it is in their inboxes)."""

    async def handled() -> bool:
        inboxes = [mongo[f"nocturnal_{service}"]["inbox"] for service in ("api", "upload")]
        return all([await inbox.find_one({"_id": event_id}) is not None for inbox in inboxes])

    await eventually(handled, f"api and upload handling {event_id}", ERASED_EVERYWHERE_S)


async def publish(stack: Stack, event: dict[str, Any]) -> None:
    """Publish a CloudEvent on the stack's exchange, as auth's relay does."""
    cloud_event = parse(json.dumps(event).encode())
    connection = await aio_pika.connect(stack.settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(stack.settings.events_exchange)
        await exchange.publish(to_message(cloud_event), routing_key=cloud_event.name)


async def traces(mongo: AsyncMongoClient[Any], user_ids: list[str]) -> dict[str, Any]:
    """Everything any service still holds about the users (or about their duties)."""
    auth, api, upload = (mongo[f"nocturnal_{s}"] for s in ("auth", "api", "upload"))
    mine = {"$in": user_ids}

    async def found(collection: Any, query: dict[str, Any]) -> list[Any]:
        return [doc async for doc in collection.find(query)]

    return {
        "users": await found(auth["users"], {"_id": mine}),
        "refresh_tokens": await found(auth["refresh_tokens"], {"user_id": mine}),
        "profiles": await found(api["profiles"], {"_id": mine}),
        "notifications": await found(api["notifications"], {"user_id": mine}),
        "applications": await found(api["applications"], {"applicant_id": mine}),
        "files": await found(upload["files"], {"owner_id": mine}),
    }


async def state_of(mongo: AsyncMongoClient[Any], user_ids: list[str]) -> dict[str, Any]:
    """What a repeated erasure must leave as it was: the users' traces, erasure marks, the
    duties they posted and what api and upload have published."""
    api, upload = mongo["nocturnal_api"], mongo["nocturnal_upload"]
    mine = {"$in": user_ids}
    outboxes = {
        service: await db["outbox"].count_documents({})
        for service, db in (("api", api), ("upload", upload))
    }
    return {
        **await traces(mongo, user_ids),
        "duties": [d async for d in api["duties"].find({"posted_by": mine}).sort("_id", 1)],
        "api_erasures": [e async for e in api["erasures"].find({"_id": mine}).sort("_id", 1)],
        "upload_erasures": [e async for e in upload["erasures"].find({"_id": mine}).sort("_id", 1)],
        "outboxes": outboxes,
    }


async def test_deleted_accounts_are_erased_everywhere_once_and_their_emails_register_again(
    gateway: GatewayClient, gateway_stack: Stack, mongo: AsyncMongoClient[Any]
) -> None:
    admin, other_admin = (
        await sign_up(gateway, "hospital_admin"),
        await sign_up(gateway, "hospital_admin"),
    )
    nurse, colleague = await sign_up(gateway, "nurse"), await sign_up(gateway, "doctor")
    doomed = [admin, nurse]
    files = {
        member.user_id: [
            await upload(gateway, member, "profile-photo", "PNG"),
            await upload(gateway, member, "document", "PDF"),
            await upload(gateway, member, "document", "PNG"),
        ]
        for member in doomed
    }
    kept_file = await upload(gateway, colleague, "document", "PDF")

    # The admin's duty, applied to by the nurse (to be deleted too) and by a colleague (kept);
    # another admin's duty, where the nurse is booked (the duty becomes FILLED).
    theirs = await gateway.expect_json(
        "POST", "/api/duties", 201, token=admin.token, json_body=a_duty(positions_needed=2)
    )
    booked = await gateway.expect_json(
        "POST", "/api/duties", 201, token=other_admin.token, json_body=a_duty(positions_needed=1)
    )
    for member in (nurse, colleague):
        await gateway.expect(
            "POST",
            f"/api/duties/{theirs['id']}/applications",
            201,
            token=member.token,
            json_body={},
        )
    booking = await gateway.expect_json(
        "POST", f"/api/duties/{booked['id']}/applications", 201, token=nurse.token, json_body={}
    )
    await gateway.expect(
        "POST", f"/api/applications/{booking['id']}/accept", 200, token=other_admin.token
    )
    filled = await gateway.expect_json(
        "GET", f"/api/duties/{booked['id']}", token=other_admin.token
    )
    assert filled["status"] == "FILLED"
    stored_before = "\n".join(await stored_keys(gateway_stack))
    assert all(file_id in stored_before for ids in files.values() for file_id in ids)

    for member in doomed:
        reply = await gateway.send(
            "DELETE", "/api/auth/me", token=member.token, json_body={"password": member.password}
        )
        assert reply.status == 204, reply.describe()
    events = {m.user_id: await deleted_events(mongo, m.user_id) for m in doomed}
    assert [len(found) for found in events.values()] == [1, 1]
    for [event] in events.values():
        await erased_everywhere(mongo, event["id"])

    # Through the gateway: their tokens and passwords are dead, their profiles gone.
    for member in doomed:
        for path in ("/api/auth/me", "/api/profiles/me", "/api/uploads"):
            await gateway.expect("GET", path, 401, token=member.token)
        login = {"email": member.email, "password": member.password}
        await gateway.expect("POST", "/api/auth/login", 401, json_body=login)
        await gateway.expect("GET", f"/api/profiles/{member.user_id}", 404, token=colleague.token)
    # What others see: the admin's duty cancelled (its applicants told), the booked nurse's
    # position free again (the other admin told of the withdrawal).
    shown = await gateway.expect_json("GET", f"/api/duties/{theirs['id']}", token=colleague.token)
    assert shown["status"] == "CANCELLED"
    reopened = await gateway.expect_json(
        "GET", f"/api/duties/{booked['id']}", token=other_admin.token
    )
    assert (reopened["status"], reopened["positions_filled"]) == ("OPEN", 0)
    listing = await gateway.expect_json(
        "GET", f"/api/duties/{booked['id']}/applications", token=other_admin.token
    )
    assert listing["items"] == []

    async def told(member: Member, kind: str, duty_id: str) -> bool:
        notices = await gateway.expect_json("GET", "/api/notifications", token=member.token)
        return any((n["kind"], n["duty_id"]) == (kind, duty_id) for n in notices["items"])

    await eventually(lambda: told(colleague, "duty.cancelled", theirs["id"]), "the applicant told")
    await eventually(
        lambda: told(other_admin, "application.withdrawn", booked["id"]), "the poster told"
    )

    # Directly in every database and in the storage: nothing of theirs is left.
    doomed_ids = [m.user_id for m in doomed]
    assert await traces(mongo, doomed_ids) == {
        "users": [],
        "refresh_tokens": [],
        "profiles": [],
        "notifications": [],
        "applications": [],
        "files": [],
    }
    keys = await stored_keys(gateway_stack)
    assert [key for key in keys if any(f in key for ids in files.values() for f in ids)] == []
    assert any(kept_file in key for key in keys)

    # A second delivery of the very same CloudEvent changes nothing anywhere.
    before = await state_of(mongo, doomed_ids)
    [nurse_deleted] = events[nurse.user_id]
    await publish(gateway_stack, nurse_deleted)
    probe = new_event("user.deleted", {"user_id": secrets.token_hex(16)}, service="auth")
    await publish(gateway_stack, probe.model_dump(mode="json", exclude_none=True))
    await erased_everywhere(mongo, probe.id)  # delivered after the repeat, on the same queues
    await asyncio.sleep(1.0)  # and the repeat had its chance to be handled concurrently
    assert await state_of(mongo, doomed_ids) == before

    # The addresses are free again: new accounts with new ids and nothing of the old ones.
    for member in doomed:
        again = await sign_up(gateway, "nurse", email=member.email)
        assert again.user_id != member.user_id
        await gateway.expect("GET", "/api/auth/me", 200, token=again.token)

        async def profile_made(fresh: Member = again) -> bool:
            reply = await gateway.expect("GET", "/api/profiles/me", (200, 404), token=fresh.token)
            return reply.status == 200

        await eventually(profile_made, "the new account's profile")
        assert (await gateway.expect_json("GET", "/api/uploads", token=again.token))["items"] == []
        mine = await gateway.expect_json("GET", "/api/applications/me", token=again.token)
        assert mine["items"] == []


async def test_a_password_change_signs_every_device_out_and_the_new_password_in(
    gateway: GatewayClient,
) -> None:
    member = await sign_up(gateway, "doctor")
    login = {"email": member.email, "password": member.password}
    other_device = await gateway.expect_json("POST", "/api/auth/login", json_body=login)
    new_password = secrets.token_urlsafe(18)
    change = {"current_password": member.password, "new_password": new_password}

    wrong = {"current_password": "not the password at all", "new_password": new_password}
    await gateway.expect("POST", "/api/auth/password", 401, token=member.token, json_body=wrong)
    same = {"current_password": member.password, "new_password": member.password}
    await gateway.expect("POST", "/api/auth/password", 400, token=member.token, json_body=same)
    await gateway.expect("POST", "/api/auth/password", 204, token=member.token, json_body=change)

    async def signed_out(token: str) -> bool:
        return (await gateway.send("GET", "/api/profiles/me", token=token)).status == 401

    for token in (member.token, other_device["access_token"]):
        await eventually(lambda t=token: signed_out(t), "the old tokens refused by api")
        await gateway.expect("GET", "/api/uploads", 401, token=token)
    refresh = {"refresh_token": other_device["refresh_token"]}
    await gateway.expect("POST", "/api/auth/refresh", 401, json_body=refresh)
    await gateway.expect("POST", "/api/auth/login", 401, json_body=login)
    await gateway.expect("POST", "/api/auth/password", 401, token=member.token, json_body=change)
    fresh = await gateway.expect_json(
        "POST", "/api/auth/login", json_body={"email": member.email, "password": new_password}
    )
    for path in ("/api/auth/me", "/api/uploads"):
        await gateway.expect("GET", path, 200, token=fresh["access_token"])
