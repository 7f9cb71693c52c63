"""Bad input to the account routes: always a 4xx problem, never a change."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase

from auth.support import PASSWORD, new_email, problem

JSON = {"Content-Type": "application/json"}
ROUTES = ["/api/auth/register", "/api/auth/login", "/api/auth/refresh", "/api/auth/logout"]


def registration(**changes: Any) -> dict[str, Any]:
    body = {"email": new_email(), "password": PASSWORD, "name": "Dr. Night", "role": "doctor"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


async def assert_nothing_stored(db: AsyncDatabase[Any]) -> None:
    assert await db["users"].count_documents({}) == 0
    assert await db["refresh_tokens"].count_documents({}) == 0
    assert await db["outbox"].count_documents({}) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (registration(is_admin=True), "is_admin"),
        (registration(email=42), "email"),
        (registration(password=["a"] * 20), "password"),
        (registration(role="surgeon"), "role"),
        (registration(role=...), "role"),
        (registration(name=""), "name"),
        (registration(name="x" * 101), "name"),
        (registration(email="not-an-address"), "email"),
        (registration(email="a@b@example.org"), "email"),
        (registration(password="too short"), "password"),
        (registration(password="x" * 129), "password"),
        (registration(password="passwordpassword"), "password"),
        (registration(password="Correct Horse Battery Staple"), "password"),
        (registration(password="1q2w3e4r5t6y7u8i9o0p"), "password"),
        (registration(email="nurse@ward.local"), "email"),
    ],
    ids=[
        "unknown-field",
        "email-not-a-string",
        "password-not-a-string",
        "unknown-role",
        "missing-role",
        "empty-name",
        "long-name",
        "invalid-email",
        "two-at-signs",
        "short-password",
        "long-password",
        "common-password",
        "breached-passphrase",
        "breached-password",
        "special-use-domain",
    ],
)
async def test_an_invalid_registration_is_400_naming_the_field(
    client: TestClient, db: AsyncDatabase[Any], body: dict[str, Any], field: str
) -> None:
    resp = await client.post("/api/auth/register", json=body)
    error = await problem(resp, 400)
    assert field in [e["field"] for e in error["errors"]]
    await assert_nothing_stored(db)


async def test_a_short_password_is_measured_after_nfkc_normalisation(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    # Eight vowels typed with combining accents: 16 code points as typed, 8 once NFKC composes
    # them, so too short only if measured after normalisation.
    typed = "a\u0301e\u0301i\u0301o\u0301u\u0301a\u0300e\u0300i\u0300"
    assert len(typed) == 16 and len(unicodedata.normalize("NFKC", typed)) == 8
    resp = await client.post("/api/auth/register", json=registration(password=typed))
    body = await problem(resp, 400)
    [error] = body["errors"]
    assert error["field"] == "password"
    assert "15" in error["message"]
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    "password",
    ["my {email} pass", "the {local} night passphrase", "Marta Kowalska 1234"],
    ids=["email", "local-part", "name"],
)
async def test_a_password_containing_the_email_or_name_is_refused_at_registration(
    client: TestClient, db: AsyncDatabase[Any], password: str
) -> None:
    email = f"marta.k.{new_email()}"
    local = email.rpartition("@")[0]
    body = registration(
        email=email, name="Marta Kowalska", password=password.format(email=email, local=local)
    )
    error = await problem(await client.post("/api/auth/register", json=body), 400)
    assert {"field": "password", "message": "must not contain your e-mail address or name"} in (
        error["errors"]
    )
    await assert_nothing_stored(db)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "raw", [b"{", b'{"email": "a@example.org",}', b"\xff\xfe", b"[]", b'"text"', b"null"]
)
async def test_malformed_json_is_400(
    client: TestClient, db: AsyncDatabase[Any], route: str, raw: bytes
) -> None:
    await problem(await client.post(route, data=raw, headers=JSON), 400)
    await assert_nothing_stored(db)


@pytest.mark.parametrize("route", ROUTES)
async def test_an_empty_body_is_400(client: TestClient, db: AsyncDatabase[Any], route: str) -> None:
    await problem(await client.post(route, data=b"", headers=JSON), 400)
    await assert_nothing_stored(db)


@pytest.mark.parametrize("route", ROUTES)
async def test_an_oversized_body_is_413(
    client: TestClient, db: AsyncDatabase[Any], route: str
) -> None:
    body = registration(name="x" * (128 * 1024))
    await problem(await client.post(route, json=body), 413)
    await assert_nothing_stored(db)


@pytest.mark.parametrize("route", ROUTES)
async def test_a_form_body_is_415(client: TestClient, db: AsyncDatabase[Any], route: str) -> None:
    await problem(await client.post(route, data={"email": "a@example.org"}), 415)
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/api/auth/login", {"email": "a@example.org", "password": PASSWORD, "remember": True}),
        ("/api/auth/login", {"email": "a@example.org", "password": 123456789012345}),
        ("/api/auth/login", {"email": "a@example.org"}),
        ("/api/auth/login", {"email": "", "password": PASSWORD}),
        ("/api/auth/refresh", {"refresh_token": 1}),
        ("/api/auth/refresh", {"refresh_token": "x" * 300}),
        ("/api/auth/logout", {"refresh_token": None}),
        ("/api/auth/logout", {"refresh_token": "x", "all": True}),
    ],
)
async def test_wrong_shapes_on_the_other_routes_are_400(
    client: TestClient, db: AsyncDatabase[Any], route: str, body: dict[str, Any]
) -> None:
    await problem(await client.post(route, json=body), 400)
    await assert_nothing_stored(db)
