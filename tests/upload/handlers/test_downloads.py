"""GET /api/files/{key}: local-backend downloads for holders of a valid signed URL."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from .actions import DOCUMENT, problem, upload
from .multipart_bodies import single


async def signed_path(
    client: TestClient, auth: dict[str, str], file_id: str, expires_in: int = 60
) -> tuple[str, dict[str, str]]:
    """The path and query of a signed URL (the gateway routes /api/files/ to this service)."""
    response = await client.get(f"/api/uploads/{file_id}/url?expires_in={expires_in}", headers=auth)
    url = urlsplit((await response.json())["url"])
    return url.path, {name: values[0] for name, values in parse_qs(url.query).items()}


@pytest.fixture
async def document(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes]
) -> dict[str, Any]:
    name = "Approbation Müller 2026.pdf"
    response = await upload(client, DOCUMENT, single(samples["pdf"], filename=name), auth)
    assert response.status == 201
    created: dict[str, Any] = await response.json()
    return created


async def test_a_signed_url_streams_the_file_as_an_attachment(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes], document: dict[str, Any]
) -> None:
    path, query = await signed_path(client, auth, document["id"])
    response = await client.get(path, params=query)
    assert response.status == 200
    assert await response.read() == samples["pdf"]
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="Approbation Muller 2026.pdf"; '
        "filename*=UTF-8''Approbation%20M%C3%BCller%202026.pdf"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "AAAA"},
        {"expires": "99999999999"},
        {"filename": "invoice.pdf"},
        {"signature": None},
        {"expires": None},
        {"filename": None},
        {"expires": "-1"},
        {"expires": "1" * 40},
    ],
    ids=[
        "tampered-signature",
        "extended-expiry",
        "other-name",
        "no-signature",
        "no-expiry",
        "no-name",
        "negative-expiry",
        "huge-expiry",
    ],
)
async def test_a_tampered_or_incomplete_link_is_403(
    client: TestClient, auth: dict[str, str], document: dict[str, Any], change: dict[str, Any]
) -> None:
    path, query = await signed_path(client, auth, document["id"])
    for name, value in change.items():
        if value is None:
            query.pop(name)
        else:
            query[name] = value
    body = await problem(await client.get(f"{path}?{urlencode(query)}"), 403)
    assert "%PDF" not in str(body)


async def test_a_link_for_another_key_is_403(
    client: TestClient, auth: dict[str, str], document: dict[str, Any]
) -> None:
    path, query = await signed_path(client, auth, document["id"])
    other = path.replace(document["id"], "f" * 32)
    await problem(await client.get(other, params=query), 403)
    traversal = URL("/api/files/documents/..%2F..%2F..%2Fetc%2Fpasswd", encoded=True)
    await problem(await client.get(traversal.with_query(query)), 403)


async def test_an_expired_link_is_403(
    client: TestClient, auth: dict[str, str], document: dict[str, Any]
) -> None:
    path, query = await signed_path(client, auth, document["id"], expires_in=1)
    await asyncio.sleep(2.1)
    await problem(await client.get(path, params=query), 403)
