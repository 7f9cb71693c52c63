"""POST /v1/files/{file_id}/signed-url: signed URLs for peers (api's profile photo_url)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from .actions import problem, upload_png


def signed_url_path(file_id: str) -> str:
    return f"/v1/files/{file_id}/signed-url"


@pytest.fixture
async def photo(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes]
) -> dict[str, Any]:
    return await upload_png(client, auth, samples)


@pytest.mark.parametrize(("body", "lifetime"), [({}, 3600), ({"expires_in": 120}, 120)])
async def test_a_peer_gets_a_signed_url_of_any_file(
    client: TestClient, photo: dict[str, Any], body: dict[str, Any], lifetime: int
) -> None:
    response = await client.post(signed_url_path(photo["id"]), json=body)
    assert response.status == 200
    signed = await response.json()
    assert "/api/files/profile-photos/" in signed["url"]
    expires_at = datetime.fromisoformat(signed["expires_at"]).timestamp()
    assert abs(expires_at - (time.time() + lifetime)) < 5


async def test_a_peers_link_does_not_disclose_the_uploaders_file_name(
    client: TestClient, auth: dict[str, str], photo: dict[str, Any]
) -> None:
    assert photo["original_filename"] == "me.png"
    shared = await (await client.post(signed_url_path(photo["id"]), json={})).json()
    own = await (await client.get(f"/api/uploads/{photo['id']}/url", headers=auth)).json()
    assert "me.png" not in shared["url"]
    assert "me.png" in own["url"]


async def test_an_unknown_file_is_404(client: TestClient) -> None:
    await problem(await client.post(signed_url_path("f" * 32), json={}), 404)


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b'{"expires_in": 60, "download": true}', "application/json", 400),
        (b'{"expires_in": "60"}', "application/json", 400),
        (b'{"expires_in": true}', "application/json", 400),
        (b'{"expires_in": 0}', "application/json", 400),
        (b'{"expires_in": 604801}', "application/json", 400),
        (b'{"expires_in": 60', "application/json", 400),
        (b"[60]", "application/json", 400),
        (b"", "application/json", 400),
        (b'{"expires_in": 60}', "text/plain", 415),
        (b'{"pad": "' + b"x" * 70_000 + b'"}', "application/json", 413),
    ],
    ids=[
        "unknown-field",
        "string",
        "bool",
        "zero",
        "over-7-days",
        "malformed",
        "array",
        "empty",
        "not-json",
        "oversized",
    ],
)
async def test_bad_bodies_are_4xx_problems(
    client: TestClient, photo: dict[str, Any], raw: bytes, content_type: str, status: int
) -> None:
    response = await client.post(
        signed_url_path(photo["id"]), data=raw, headers={"Content-Type": content_type}
    )
    await problem(response, status)
