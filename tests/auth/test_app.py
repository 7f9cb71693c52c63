"""The assembled service: start-up with several instances, readiness, revocations at start."""

from __future__ import annotations

import asyncio
from typing import Any

import argon2
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase

from auth.support import AuthClientFactory, bearer, login, register


async def test_two_instances_starting_at_once_on_an_empty_database_share_one_signing_key(
    auth_client: AuthClientFactory, db: AsyncDatabase[Any]
) -> None:
    first, second = await asyncio.gather(auth_client(), auth_client())
    assert await db["signing_keys"].count_documents({}) == 1
    body = await register(first)
    resp = await second.get("/api/auth/me", headers=bearer(body))
    assert resp.status == 200


async def test_readiness_covers_mongodb_and_the_event_bus(client: TestClient) -> None:
    resp = await client.get("/health/ready")
    assert resp.status == 200
    assert (await resp.json())["checks"] == {"mongodb": "ok", "ratelimit": "ok", "rabbitmq": "ok"}


async def test_an_instance_started_after_a_revocation_rejects_the_revoked_tokens_at_once(
    client: TestClient, auth_client: AuthClientFactory
) -> None:
    registered = await register(client)
    old = {"refresh_token": registered["refresh_token"]}
    await client.post("/api/auth/refresh", json=old)
    await asyncio.sleep(1.1)  # revocation epochs have one-second resolution
    assert (await client.post("/api/auth/refresh", json=old)).status == 401
    revocations = await (await client.get("/v1/revocations")).json()
    assert registered["user"]["id"] in [item["user_id"] for item in revocations["items"]]
    later = await auth_client()
    resp = await later.get("/api/auth/me", headers=bearer(registered))
    assert resp.status == 401


async def test_the_openapi_document_lists_the_auth_routes(client: TestClient) -> None:
    paths = (await (await client.get("/openapi.json")).json())["paths"]
    assert {"/api/auth/register", "/api/auth/login", "/.well-known/jwks.json"} <= paths.keys()


async def test_login_upgrades_a_hash_made_with_lower_argon2_costs(
    auth_client: AuthClientFactory, db: AsyncDatabase[Any]
) -> None:
    registered = await register(await auth_client())
    stronger = await auth_client(argon2_memory_kib=32 * 1024)
    resp = await login(stronger, registered["user"]["email"])
    assert resp.status == 200
    user = await db["users"].find_one({"_id": registered["user"]["id"]})
    assert user is not None
    assert argon2.extract_parameters(user["password_hash"]).memory_cost == 32 * 1024
