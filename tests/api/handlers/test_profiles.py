"""Profiles over HTTP, made from `user.registered` and given photos by `file.uploaded`, both
delivered through the real RabbitMQ."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from polling import eventually
from pymongo.asynchronous.database import AsyncDatabase
from token_issuer import KeyServer

from api.conftest import ApiClientFactory, Publish
from api.support import (
    Caller,
    CallerFactory,
    UploadStandIn,
    problem,
    register,
)
from nocturnal.shared.events import CloudEvent


async def test_a_registered_user_gets_a_profile_from_the_event(
    caller: CallerFactory, publish: Publish
) -> None:
    nurse = caller("nurse")
    await problem(await nurse.get("/api/profiles/me"), 404)
    await register(publish, nurse, "Amara Okafor")
    profile = await nurse.json("GET", "/api/profiles/me")
    assert profile == {
        "user_id": nurse.user_id,
        "name": "Amara Okafor",
        "role": "nurse",
        "specialty": None,
        "years_experience": None,
        "skills": [],
        "bio": None,
        "location": None,
        "photo_url": None,
    }


async def test_the_owner_edits_some_fields_and_others_read_the_public_profile(
    caller: CallerFactory, publish: Publish
) -> None:
    doctor, admin = caller("doctor"), caller("hospital_admin")
    await register(publish, doctor, "Tomás Silva")
    changes = {
        "specialty": "Critical Care",
        "years_experience": 7,
        "skills": ["ALS", "ventilator management"],
        "bio": "Nights preferred.",
        "location": "London",
    }
    edited = await doctor.json("PATCH", "/api/profiles/me", json=changes)
    assert {key: edited[key] for key in changes} == changes
    edited = await doctor.json("PATCH", "/api/profiles/me", json={"bio": None, "name": "T. Silva"})
    assert (edited["bio"], edited["name"], edited["location"]) == (None, "T. Silva", "London")
    public = await admin.json("GET", f"/api/profiles/{doctor.user_id}")
    assert public == edited
    assert "email" not in public


async def test_an_unknown_profile_is_404(caller: CallerFactory) -> None:
    await problem(await caller("doctor").get(f"/api/profiles/{uuid.uuid4().hex}"), 404)


async def test_profile_routes_need_a_valid_token(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic eDp5"}):
        resp = await client.get("/api/profiles/me", headers=headers)
        await problem(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def wait_for_photo(user: Caller, expected: str | None) -> None:
    async def shown() -> bool:
        return (await user.json("GET", "/api/profiles/me"))["photo_url"] == expected

    await eventually(shown, f"photo_url {expected}")


def file_event(user: Caller, file_id: str, kind: str = "profile-photo") -> dict[str, Any]:
    return {
        "file_id": file_id,
        "owner_id": user.user_id,
        "kind": kind,
        "content_type": "image/png",
        "size": 1024,
        "sha256": "0" * 64,
    }


async def test_an_uploaded_profile_photo_becomes_a_signed_photo_url(
    caller: CallerFactory, publish: Publish, upload_peer: UploadStandIn
) -> None:
    nurse = caller("nurse")
    await register(publish, nurse, "Grace Lee")
    photo = uuid.uuid4().hex
    upload_peer.files.add(photo)
    await publish("file.uploaded", file_event(nurse, photo), service="upload")
    await wait_for_photo(nurse, UploadStandIn.url_of(photo))
    public = await caller("hospital_admin").json("GET", f"/api/profiles/{nurse.user_id}")
    assert public["photo_url"] == UploadStandIn.url_of(photo)


async def processed(db: AsyncDatabase[Any], event: CloudEvent) -> None:
    async def in_inbox() -> bool:
        return await db["inbox"].find_one({"_id": event.id}) is not None

    await eventually(in_inbox, f"{event.name} {event.id} processed")


async def test_the_latest_upload_wins_even_when_its_event_arrives_first(
    caller: CallerFactory, publish: Publish, upload_peer: UploadStandIn, db: AsyncDatabase[Any]
) -> None:
    nurse = caller("nurse")
    await register(publish, nurse, "Jonas Berg")
    older, newer, document = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    upload_peer.files.update({older, newer, document})
    now = datetime.now(UTC)
    await publish("file.uploaded", file_event(nurse, newer), service="upload", time=now)
    await wait_for_photo(nurse, UploadStandIn.url_of(newer))
    earlier = now - timedelta(minutes=1)
    late = await publish("file.uploaded", file_event(nurse, older), service="upload", time=earlier)
    other_kind = await publish(
        "file.uploaded", file_event(nurse, document, "document"), service="upload"
    )
    await processed(db, late)
    await processed(db, other_kind)
    assert (await nurse.json("GET", "/api/profiles/me"))["photo_url"] == UploadStandIn.url_of(newer)


async def test_a_deleted_photo_is_no_longer_shown(
    caller: CallerFactory, publish: Publish, upload_peer: UploadStandIn
) -> None:
    doctor = caller("doctor")
    await register(publish, doctor, "Daniel Kim")
    photo = uuid.uuid4().hex
    upload_peer.files.add(photo)
    await publish("file.uploaded", file_event(doctor, photo), service="upload")
    await wait_for_photo(doctor, UploadStandIn.url_of(photo))
    await publish("file.deleted", file_event(doctor, photo), service="upload")
    await wait_for_photo(doctor, None)


async def test_photo_url_is_null_when_upload_does_not_answer_in_time(
    api_client: ApiClientFactory,
    key_server: KeyServer,
    publish: Publish,
    upload_peer: UploadStandIn,
    db: AsyncDatabase[Any],
) -> None:
    client = await api_client(peer_timeout_s=0.2)
    nurse = Caller(client, key_server, "nurse")
    await register(publish, nurse, "Fatima Noor")
    photo, missing = uuid.uuid4().hex, uuid.uuid4().hex
    upload_peer.files.add(photo)
    await processed(
        db, await publish("file.uploaded", file_event(nurse, missing), service="upload")
    )
    assert (await nurse.json("GET", "/api/profiles/me"))["photo_url"] is None  # upload: 404
    await publish("file.uploaded", file_event(nurse, photo), service="upload")
    await wait_for_photo(nurse, UploadStandIn.url_of(photo))
    upload_peer.delay_s = 0.5
    try:
        profile = await nurse.json("GET", "/api/profiles/me")
    finally:
        upload_peer.delay_s = 0.0
    assert profile["photo_url"] is None
    assert profile["name"] == "Fatima Noor"
