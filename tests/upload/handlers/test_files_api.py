"""Listing, reading, signing and deleting one's files; other users' files do not exist."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from timestamps import is_rfc3339_millis

from nocturnal.upload.settings import UploadSettings

from ..support import FileEvents, TokenFactory
from .actions import problem, stored_objects, upload_png


async def test_the_owner_reads_a_file_and_others_get_404(
    client: TestClient, auth: dict[str, str], token: TokenFactory, samples: dict[str, bytes]
) -> None:
    created = await upload_png(client, auth, samples)
    response = await client.get(f"/api/uploads/{created['id']}", headers=auth)
    assert response.status == 200
    assert await response.json() == created
    stranger = {"Authorization": f"Bearer {token('someone-else')}"}
    for method, path in [
        ("GET", f"/api/uploads/{created['id']}"),
        ("GET", f"/api/uploads/{created['id']}/url"),
        ("DELETE", f"/api/uploads/{created['id']}"),
    ]:
        await problem(await client.request(method, path, headers=stranger), 404)
    assert (await client.get(f"/api/uploads/{created['id']}", headers=auth)).status == 200


@pytest.mark.parametrize("path", ["/api/uploads/nope", "/api/uploads/nope/url"])
async def test_a_missing_file_is_404(client: TestClient, auth: dict[str, str], path: str) -> None:
    await problem(await client.get(path, headers=auth), 404)
    await problem(await client.delete("/api/uploads/nope", headers=auth), 404)


async def test_the_list_pages_through_the_callers_files_newest_first(
    client: TestClient, auth: dict[str, str], token: TokenFactory, samples: dict[str, bytes]
) -> None:
    mine = [await upload_png(client, auth, samples) for _ in range(5)]
    await upload_png(client, {"Authorization": f"Bearer {token('another-user')}"}, samples)
    seen: list[dict[str, Any]] = []
    url = "/api/uploads?limit=2"
    while True:
        response = await client.get(url, headers=auth)
        assert response.status == 200
        listing = await response.json()
        assert len(listing["items"]) <= 2
        seen += listing["items"]
        if listing["next_cursor"] is None:
            break
        url = f"/api/uploads?limit=2&cursor={listing['next_cursor']}"
    assert [item["id"] for item in seen] == [item["id"] for item in reversed(mine)]
    times = [datetime.fromisoformat(item["created_at"]) for item in seen]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=x", "cursor=%%%", "cursor=WyJ4Il0", "cursor=WzEsMl0", "limt=5"],
)
async def test_bad_page_parameters_are_400(
    client: TestClient, auth: dict[str, str], query: str
) -> None:
    await problem(await client.get(f"/api/uploads?{query}", headers=auth), 400)


async def test_listing_and_reading_need_a_token(client: TestClient) -> None:
    for path in ["/api/uploads", "/api/uploads/x", "/api/uploads/x/url"]:
        await problem(await client.get(path), 401)
    await problem(await client.delete("/api/uploads/x"), 401)


async def test_a_signed_url_is_valid_for_the_requested_time(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    created = await upload_png(client, auth, samples)
    for query, lifetime in [("", 3600), ("?expires_in=1", 1), ("?expires_in=604800", 604800)]:
        response = await client.get(f"/api/uploads/{created['id']}/url{query}", headers=auth)
        assert response.status == 200
        signed = await response.json()
        assert is_rfc3339_millis(signed["expires_at"])
        expires_at = datetime.fromisoformat(signed["expires_at"]).timestamp()
        assert abs(expires_at - (time.time() + lifetime)) < 5
        assert signed["url"].startswith(f"{settings.public_base_url}/api/files/profile-photos/")


@pytest.mark.parametrize("expires_in", ["0", "604801", "-5", "1.5", "soon", ""])
async def test_a_lifetime_outside_one_second_to_seven_days_is_400(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes], expires_in: str
) -> None:
    created = await upload_png(client, auth, samples)
    path = f"/api/uploads/{created['id']}/url?expires_in={expires_in}"
    document = await problem(await client.get(path, headers=auth), 400)
    assert document["errors"][0]["field"] == "expires_in"


async def test_delete_removes_object_and_metadata_and_announces_it(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    user: str,
    samples: dict[str, bytes],
    file_events: FileEvents,
) -> None:
    created = await upload_png(client, auth, samples)
    signed = await (await client.get(f"/api/uploads/{created['id']}/url", headers=auth)).json()
    response = await client.delete(f"/api/uploads/{created['id']}", headers=auth)
    assert response.status == 204
    assert stored_objects(settings) == []
    await problem(await client.get(f"/api/uploads/{created['id']}", headers=auth), 404)
    await problem(await client.delete(f"/api/uploads/{created['id']}", headers=auth), 404)
    parts = urlsplit(signed["url"])
    await problem(await client.get(f"{parts.path}?{parts.query}"), 404)
    event = await file_events.wait_for("file.deleted", created["id"])
    assert event.data == {
        "file_id": created["id"],
        "owner_id": user,
        "kind": "profile-photo",
        "content_type": "image/png",
        "size": len(samples["png"]),
        "sha256": created["sha256"],
    }


async def test_an_upload_is_announced_as_file_uploaded(
    client: TestClient,
    auth: dict[str, str],
    user: str,
    samples: dict[str, bytes],
    file_events: FileEvents,
) -> None:
    created = await upload_png(client, auth, samples)
    event = await file_events.wait_for("file.uploaded", created["id"])
    assert event.type == "nocturnal.file.uploaded.v1"
    assert event.source == "/services/upload"
    assert event.subject == created["id"]
    assert event.data == {
        "file_id": created["id"],
        "owner_id": user,
        "kind": "profile-photo",
        "content_type": "image/png",
        "size": created["size"],
        "sha256": created["sha256"],
    }
