"""The account routes through the real app: register, login, refresh, logout, me."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase

from auth.support import (
    PASSWORD,
    AuthClientFactory,
    bearer,
    login,
    new_email,
    new_ip,
    problem,
    register,
)
from nocturnal.auth.adapters.accounts import MongoUserRepository
from nocturnal.auth.handlers import accounts as handlers


async def outbox_events(db: AsyncDatabase[Any], name: str) -> list[dict[str, Any]]:
    cursor = db["outbox"].find({"routing_key": name}).sort("created_at", 1)
    return [entry["event"] async for entry in cursor]


async def test_register_returns_the_user_and_a_working_token_pair(client: TestClient) -> None:
    email = new_email()
    body = await register(client, email=email, name="Ada Lovelace", role="nurse")
    assert body["user"]["email"] == email
    assert body["user"]["name"] == "Ada Lovelace"
    assert body["user"]["role"] == "nurse"
    assert body["user"]["created_at"].endswith("Z")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"]
    resp = await client.get("/api/auth/me", headers=bearer(body))
    assert resp.status == 200
    assert await resp.json() == body["user"]


async def test_token_responses_are_not_cacheable(client: TestClient) -> None:
    resp = await client.post(
        "/api/auth/register",
        json={"email": new_email(), "password": PASSWORD, "name": "N", "role": "doctor"},
    )
    assert resp.headers["Cache-Control"] == "no-store"


async def test_register_stores_user_registered_in_the_outbox(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    body = await register(client, role="hospital_admin")
    user = body["user"]
    [event] = await outbox_events(db, "user.registered")
    assert event["type"] == "nocturnal.user.registered.v1"
    assert event["source"] == "/services/auth"
    assert event["data"] == {
        "user_id": user["id"],
        "email": user["email"],
        "name": user["name"],
        "role": "hospital_admin",
    }


async def test_the_email_is_kept_as_typed_but_identifies_the_account_in_any_case(
    client: TestClient,
) -> None:
    email = f"Ada.{new_email()}"
    body = await register(client, email=email)
    assert body["user"]["email"] == email
    resp = await login(client, email.upper())
    assert resp.status == 200
    assert (await resp.json())["user"]["id"] == body["user"]["id"]


async def test_an_ascii_encoded_domain_names_the_same_account_as_its_unicode_form(
    client: TestClient,
) -> None:
    local = new_email().partition("@")[0]
    body = await register(client, email=f"{local}@hôpital.fr")
    resp = await login(client, f"{local}@xn--hpital-ixa.fr")
    assert resp.status == 200
    assert (await resp.json())["user"]["id"] == body["user"]["id"]
    resp = await client.post(
        "/api/auth/register",
        json={
            "email": f"{local}@XN--HPITAL-IXA.fr",
            "password": PASSWORD,
            "name": "Copy",
            "role": "nurse",
        },
    )
    await problem(resp, 409)


@pytest.mark.parametrize(
    "variant",
    [
        lambda email: email,
        lambda email: email.upper(),
        # FULLWIDTH LATIN CAPITAL LETTER U is "U" after NFKC, then "u".
        lambda email: "\uff35" + email[1:],
    ],
    ids=["same", "upper-case", "nfkc-compatible"],
)
async def test_a_taken_email_is_409_and_stores_nothing(
    client: TestClient, db: AsyncDatabase[Any], variant: Any
) -> None:
    email = new_email()
    await register(client, email=email)
    resp = await client.post(
        "/api/auth/register",
        json={"email": variant(email), "password": PASSWORD, "name": "Copy", "role": "nurse"},
    )
    await problem(resp, 409)
    assert await db["users"].count_documents({}) == 1
    assert await db["refresh_tokens"].count_documents({}) == 1
    assert len(await outbox_events(db, "user.registered")) == 1


async def test_login_returns_tokens_and_records_the_success(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    registered = await register(client)
    ip = new_ip()
    resp = await login(client, registered["user"]["email"], ip=ip)
    assert resp.status == 200
    body = await resp.json()
    assert body["user"] == registered["user"]
    assert body["refresh_token"] != registered["refresh_token"]
    assert (await client.get("/api/auth/me", headers=bearer(body))).status == 200
    [event] = await outbox_events(db, "user.login_succeeded")
    assert event["data"]["user_id"] == registered["user"]["id"]
    assert event["data"]["ip"] == ip
    assert event["data"]["reason"] == "password"


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    registered = await register(client)
    wrong = await problem(await login(client, registered["user"]["email"], "x" * 20), 401)
    unknown = await problem(await login(client, new_email()), 401)
    for body in (wrong, unknown):
        del body["request_id"]
    assert wrong == unknown
    failures = [event["data"] for event in await outbox_events(db, "user.login_failed")]
    assert [(f["user_id"], f["reason"]) for f in failures] == [
        (registered["user"]["id"], "wrong_password"),
        (None, "unknown_email"),
    ]
    assert all(len(f["email_hash"]) == 16 for f in failures)


async def test_the_sixth_login_attempt_in_the_window_is_429_with_retry_after(
    client: TestClient,
) -> None:
    email = (await register(client))["user"]["email"]
    ip = new_ip()
    for _ in range(5):
        resp = await login(client, email, ip=ip)
        assert resp.status == 200
        assert "RateLimit" in resp.headers
    resp = await login(client, email, ip=ip)
    await problem(resp, 429)
    assert int(resp.headers["Retry-After"]) > 0
    assert (await login(client, email, ip=new_ip())).status == 200


async def test_me_without_a_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    resp = await client.get("/api/auth/me")
    await problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_refresh_rotates_and_the_used_token_is_dead(client: TestClient) -> None:
    registered = await register(client)
    resp = await client.post(
        "/api/auth/refresh", json={"refresh_token": registered["refresh_token"]}
    )
    assert resp.status == 200
    rotated = await resp.json()
    assert rotated["refresh_token"] != registered["refresh_token"]
    assert rotated["user"] == registered["user"]
    assert (await client.get("/api/auth/me", headers=bearer(rotated))).status == 200


async def test_replaying_a_used_refresh_token_revokes_the_family_and_access_tokens(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    registered = await register(client)
    old = {"refresh_token": registered["refresh_token"]}
    rotated = await (await client.post("/api/auth/refresh", json=old)).json()
    # No waiting for the next second: the epoch is rounded up past the replay's second.
    await problem(await client.post("/api/auth/refresh", json=old), 401)
    successor = {"refresh_token": rotated["refresh_token"]}
    await problem(await client.post("/api/auth/refresh", json=successor), 401)
    [event] = await outbox_events(db, "auth.tokens_revoked")
    assert event["data"]["user_id"] == registered["user"]["id"]
    assert event["data"]["not_before"] > 0
    assert (await client.get("/api/auth/me", headers=bearer(rotated))).status == 401
    assert (await client.get("/api/auth/me", headers=bearer(registered))).status == 401


async def test_an_unknown_refresh_token_is_401(client: TestClient) -> None:
    resp = await client.post("/api/auth/refresh", json={"refresh_token": "made-up"})
    await problem(resp, 401)


async def test_logout_revokes_the_family(client: TestClient) -> None:
    registered = await register(client)
    token = {"refresh_token": registered["refresh_token"]}
    assert (await client.post("/api/auth/logout", json=token)).status == 204
    await problem(await client.post("/api/auth/refresh", json=token), 401)
    assert (await client.post("/api/auth/logout", json=token)).status == 204
    assert (await client.post("/api/auth/logout", json={"refresh_token": "x"})).status == 204


async def test_the_login_past_the_hashing_bound_gets_503_and_is_not_queued(
    auth_client: AuthClientFactory,
) -> None:
    # One slot, one waiting place, a wait far longer than the test: only the bound can refuse.
    client = await auth_client(
        argon2_time_cost=30,
        password_hash_concurrency=1,
        password_hash_queue=1,
        password_hash_wait_s=30,
    )
    email = new_email()
    body = {"email": email, "password": PASSWORD, "name": "N", "role": "doctor"}
    assert (await client.post("/api/auth/register", json=body)).status == 201
    login = {"email": email, "password": PASSWORD}

    responses = await asyncio.gather(
        *(client.post("/api/auth/login", json=login) for _ in range(3))
    )

    assert sorted(resp.status for resp in responses) == [200, 200, 503]
    busy = next(resp for resp in responses if resp.status == 503)
    await problem(busy, 503)
    assert busy.headers["Retry-After"] == "1"


async def test_a_login_shed_by_a_full_hashing_queue_costs_no_rate_limit_check_nor_read(
    auth_client: AuthClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One place (one slot, no waiting room) and a slow hash: the first login holds the place.
    client = await auth_client(
        argon2_time_cost=30,
        password_hash_concurrency=1,
        password_hash_queue=0,
        password_hash_wait_s=30,
    )
    email = new_email()
    body = {"email": email, "password": PASSWORD, "name": "N", "role": "doctor"}
    assert (await client.post("/api/auth/register", json=body)).status == 201
    checks: list[str | None] = []
    reads: list[str] = []
    read = asyncio.Event()
    real_enforce, real_by_email = handlers.enforce, MongoUserRepository.by_email

    async def counted_enforce(request: Any, policy: str, ip: str, **kw: Any) -> None:
        checks.append(kw.get("subject"))
        await real_enforce(request, policy, ip, **kw)

    async def counted_by_email(repo: MongoUserRepository, canonical: str) -> Any:
        reads.append(canonical)
        found = await real_by_email(repo, canonical)
        read.set()
        return found

    monkeypatch.setattr(handlers, "enforce", counted_enforce)
    monkeypatch.setattr(MongoUserRepository, "by_email", counted_by_email)
    credentials = {"email": email, "password": PASSWORD}
    first = asyncio.create_task(client.post("/api/auth/login", json=credentials))
    await read.wait()  # the first login has its place, its check and its read: it is hashing

    shed = await client.post("/api/auth/login", json=credentials)

    await problem(shed, 503)
    assert shed.headers["Retry-After"] == "1"
    assert len(checks) == 1
    assert len(reads) == 1
    assert (await first).status == 200


async def test_a_saturated_hasher_sheds_load_with_503_and_retry_after(
    auth_client: AuthClientFactory,
) -> None:
    client = await auth_client(
        argon2_time_cost=30, password_hash_concurrency=1, password_hash_wait_s=0.01
    )
    bodies = [
        {"email": new_email(), "password": PASSWORD, "name": "N", "role": "doctor"}
        for _ in range(3)
    ]
    responses = await asyncio.gather(
        *(client.post("/api/auth/register", json=body) for body in bodies)
    )
    statuses = sorted(resp.status for resp in responses)
    assert statuses[0] == 201
    assert 503 in statuses
    busy = next(resp for resp in responses if resp.status == 503)
    await problem(busy, 503)
    assert busy.headers["Retry-After"] == "1"
