"""What a test client does against the upload app, and what it checks afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from nocturnal.upload.settings import UploadSettings

from .multipart_bodies import CONTENT_TYPE, single

PHOTO = "/api/uploads?kind=profile-photo"
DOCUMENT = "/api/uploads?kind=document"


async def upload(client: TestClient, url: str, data: Any, auth: dict[str, str]) -> Any:
    """POST a multipart body (bytes or a chunked stream) to `url`."""
    return await client.post(url, data=data, headers={"Content-Type": CONTENT_TYPE, **auth})


async def upload_png(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes]
) -> dict[str, Any]:
    """Upload the sample PNG as a profile photo; the created file."""
    response = await upload(client, PHOTO, single(samples["png"], filename="me.png"), auth)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem of `status`; its document."""
    assert response.status == status, await response.text()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    document: dict[str, Any] = await response.json(content_type=None)
    assert document["status"] == status
    assert document["request_id"] == response.headers["X-Request-ID"]
    if status == 401:  # RFC 9110 §15.5.2: every 401 carries a challenge
        assert response.headers["WWW-Authenticate"].startswith("Bearer "), response.headers
    return document


def stored_objects(settings: UploadSettings) -> list[Path]:
    """Every file in the local storage directory (objects and temporary files)."""
    root = settings.storage_local_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
