"""Password change and account deletion through the real app: what a client gets, what is
revoked and published, and the attack list of issue 7 (each a 4xx that changes nothing)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from polling import eventually
from pymongo.asynchronous.database import AsyncDatabase

from auth.support import (
    PASSWORD,
    AuthClientFactory,
    bearer,
    claims,
    login,
    new_email,
    new_ip,
    problem,
    register,
)
from nocturnal.auth.keys import SIGNING_KEYS

NEW_PASSWORD = "a lantern on the night ward"
CREDENTIALS_WRONG = "the e-mail address or the password is wrong"


async def change_password(
    client: TestClient, token: dict[str, Any], current: str, new: str, ip: str | None = None
) -> ClientResponse:
    return await client.post(
        "/api/auth/password",
        json={"current_password": current, "new_password": new},
        headers={**bearer(token), "X-Real-IP": ip or new_ip()},
    )


async def delete_account(
    client: TestClient, token: dict[str, Any], body: Any, ip: str | None = None
) -> ClientResponse:
    return await client.delete(
        "/api/auth/me", json=body, headers={**bearer(token), "X-Real-IP": ip or new_ip()}
    )


async def me(client: TestClient, token: dict[str, Any]) -> int:
    return (await client.get("/api/auth/me", headers=bearer(token))).status


async def refresh(client: TestClient, token: dict[str, Any]) -> int:
    body = {"refresh_token": token["refresh_token"]}
    return (await client.post("/api/auth/refresh", json=body)).status


async def signed_in(client: TestClient, email: str, password: str) -> dict[str, Any]:
    resp = await login(client, email, password)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def outbox(db: AsyncDatabase[Any], name: str) -> list[dict[str, Any]]:
    cursor = db["outbox"].find({"routing_key": name}).sort("created_at", 1)
    return [entry["event"]["data"] async for entry in cursor]


async def account_state(db: AsyncDatabase[Any], user_id: str) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    tokens = db["refresh_tokens"].find({"user_id": user_id}).sort("_id", 1)
    revocations = await db["revocations"].count_documents({"user_id": user_id})
    changes = await db["outbox"].count_documents(
        {"routing_key": {"$in": ["auth.tokens_revoked", "user.deleted"]}}
    )
    return (
        await db["users"].find_one({"_id": user_id}),
        [doc async for doc in tokens],
        revocations,
        changes,
    )


async def minted(client: TestClient, user_id: str, **changes: Any) -> dict[str, Any]:
    """An access token signed with auth's real key, with chosen claims (a stolen or an old one)."""
    key = await client.server.app[SIGNING_KEYS].signing_key()
    return {"access_token": key.sign(claims(user_id, **changes))}


async def test_a_password_change_revokes_every_token_and_the_new_password_signs_in_at_once(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    account = await register(client)
    email, user_id = account["user"]["email"], account["user"]["id"]
    other_device = await signed_in(client, email, PASSWORD)

    resp = await change_password(client, account, PASSWORD, NEW_PASSWORD)
    assert resp.status == 204, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"

    for token in (account, other_device):
        assert await me(client, token) == 401  # at once on this instance, no waiting
        assert await refresh(client, token) == 401
    await problem(await login(client, email, PASSWORD), 401)
    fresh = await signed_in(client, email, NEW_PASSWORD)
    assert await me(client, fresh) == 200  # in the same second as the change, most likely
    [revoked] = await outbox(db, "auth.tokens_revoked")
    stored = await db["users"].find_one({"_id": user_id})
    assert revoked == {"user_id": user_id, "not_before": stored["tokens_not_before"]}
    assert revoked["not_before"] > time.time()  # rounded up past the second of the change


async def test_another_instance_refuses_the_old_tokens_within_seconds(
    auth_client: AuthClientFactory,
) -> None:
    first, second = await auth_client(), await auth_client()
    account = await register(first)
    assert await me(second, account) == 200
    resp = await change_password(first, account, PASSWORD, NEW_PASSWORD)
    assert resp.status == 204

    async def refused_there() -> bool:
        return await me(second, account) == 401

    await eventually(refused_there, "the revocation reaching the other instance")
    fresh = await signed_in(first, account["user"]["email"], NEW_PASSWORD)
    assert await me(second, fresh) == 200


async def test_a_token_issued_in_the_second_of_the_revocation_is_refused_at_the_boundary(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    account = await register(client)
    user_id = account["user"]["id"]
    assert (await change_password(client, account, PASSWORD, NEW_PASSWORD)).status == 204
    [revoked] = await outbox(db, "auth.tokens_revoked")
    not_before = revoked["not_before"]
    # not_before = floor(revocation time) + 1 + 1 s of allowed clock skew between auth
    # instances: a token dated in the very second of the revocation, or a second later by a
    # clock running ahead, is refused; one dated at the epoch (a grant after it) is not.
    for iat, status in ((not_before - 2, 401), (not_before - 1, 401), (not_before, 200)):
        token = await minted(client, user_id, iat=iat, nbf=iat, exp=iat + 900)
        assert await me(client, token) == status, f"iat = not_before {iat - not_before:+d}"


@pytest.mark.parametrize(
    ("current", "new", "status", "field"),
    [
        ("not my password at all", NEW_PASSWORD, 401, None),
        (PASSWORD, PASSWORD, 400, "new_password"),
        (PASSWORD, "Correct Horse Battery Staple", 400, "new_password"),
        (PASSWORD, "1q2w3e4r5t6y7u8i9o0p", 400, "new_password"),
        (PASSWORD, "too short", 400, "new_password"),
        (PASSWORD, "Dr. Night on the ward 1234", 400, "new_password"),
        (PASSWORD, "x" * 2000, 400, "new_password"),
        ("x" * 2000, NEW_PASSWORD, 400, "current_password"),
        (PASSWORD, "p" * (1024 * 1024), 413, None),
    ],
    ids=[
        "wrong-current",
        "same-password",
        "breached-passphrase",
        "breached-password",
        "short",
        "contains-the-name",
        "2000-characters",
        "2000-character-current",
        "one-megabyte",
    ],
)
async def test_a_refused_password_change_changes_nothing(
    client: TestClient,
    db: AsyncDatabase[Any],
    current: str,
    new: str,
    status: int,
    field: str | None,
) -> None:
    account = await register(client)
    user_id = account["user"]["id"]
    before = await account_state(db, user_id)
    body = await problem(await change_password(client, account, current, new), status)
    if status == 401:
        assert body["detail"] == CREDENTIALS_WRONG  # the login's one answer
    if field:
        assert field in [error["field"] for error in body["errors"]]
    assert await account_state(db, user_id) == before
    assert await me(client, account) == 200
    await signed_in(client, account["user"]["email"], PASSWORD)


@pytest.mark.parametrize(
    "body",
    [
        {"current_password": PASSWORD},
        {"new_password": NEW_PASSWORD},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "logout_all": False},
        {"current_password": PASSWORD, "new_password": 123456789012345678},
        [],
        None,
    ],
    ids=["no-new", "no-current", "unknown-field", "number", "array", "null"],
)
async def test_a_malformed_password_change_is_400_and_changes_nothing(
    client: TestClient, db: AsyncDatabase[Any], body: Any
) -> None:
    account = await register(client)
    before = await account_state(db, account["user"]["id"])
    headers = {**bearer(account), "Content-Type": "application/json"}
    resp = await client.post("/api/auth/password", data=json.dumps(body), headers=headers)
    await problem(resp, 400)
    assert await account_state(db, account["user"]["id"]) == before


async def test_a_password_change_with_a_revoked_or_expired_token_is_401(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    account = await register(client)
    user_id = account["user"]["id"]
    expired = await minted(client, user_id, iat=int(time.time()) - 1000, exp=int(time.time()) - 100)
    resp = await change_password(client, expired, PASSWORD, NEW_PASSWORD)
    await problem(resp, 401)
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert (await change_password(client, account, PASSWORD, NEW_PASSWORD)).status == 204
    after = await account_state(db, user_id)
    for attempt in ((PASSWORD, NEW_PASSWORD), (NEW_PASSWORD, "yet another night on the ward")):
        # The replay, and a revoked token that even knows the new password.
        await problem(await change_password(client, account, *attempt), 401)
    assert await account_state(db, user_id) == after
    await signed_in(client, account["user"]["email"], NEW_PASSWORD)


async def test_wrong_passwords_are_counted_per_user_for_changes_and_deletions_together(
    client: TestClient,
) -> None:
    account = await register(client)
    ip = new_ip()
    for _ in range(4):
        resp = await change_password(client, account, "not my password at all", NEW_PASSWORD, ip)
        await problem(resp, 401)
    await problem(await delete_account(client, account, {"password": "not it either"}, ip), 401)
    resp = await change_password(client, account, PASSWORD, NEW_PASSWORD, ip)
    await problem(resp, 429)
    assert int(resp.headers["Retry-After"]) > 0
    await problem(await delete_account(client, account, {"password": PASSWORD}, ip), 429)
    assert await me(client, account) == 200  # refused, not revoked


async def test_deleting_the_account_revokes_everything_announces_it_and_frees_the_email(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    account = await register(client)
    email, user_id = account["user"]["email"], account["user"]["id"]
    other_device = await signed_in(client, email, PASSWORD)

    resp = await delete_account(client, account, {"password": PASSWORD})
    assert resp.status == 204, await resp.text()

    for token in (account, other_device):
        assert await me(client, token) == 401
        assert await refresh(client, token) == 401
    await problem(await login(client, email, PASSWORD), 401)
    assert await db["users"].count_documents({"_id": user_id}) == 0
    assert await db["refresh_tokens"].count_documents({"user_id": user_id}) == 0
    assert await outbox(db, "user.deleted") == [{"user_id": user_id}]
    [revoked] = await outbox(db, "auth.tokens_revoked")
    assert revoked["user_id"] == user_id
    again = await register(client, email=email)
    assert again["user"]["id"] != user_id
    assert await me(client, again) == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 400),
        ({}, 400),
        ({"password": ""}, 400),
        ({"password": PASSWORD, "confirm": True}, 400),
        ({"password": "not my password at all"}, 401),
        ({"password": "p" * (1024 * 1024)}, 413),
    ],
    ids=["no-body", "no-password", "empty-password", "unknown-field", "wrong", "one-megabyte"],
)
async def test_a_refused_deletion_changes_nothing(
    client: TestClient, db: AsyncDatabase[Any], body: Any, status: int
) -> None:
    account = await register(client)
    user_id = account["user"]["id"]
    before = await account_state(db, user_id)
    if body is None:
        resp = await client.delete("/api/auth/me", headers=bearer(account))
    else:
        resp = await delete_account(client, account, body)
    await problem(resp, status)
    assert await account_state(db, user_id) == before
    assert await me(client, account) == 200


async def test_deleting_twice_is_401_the_second_time(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    account = await register(client)
    assert (await delete_account(client, account, {"password": PASSWORD})).status == 204
    resp = await delete_account(client, account, {"password": PASSWORD})
    await problem(resp, 401)
    assert len(await outbox(db, "user.deleted")) == 1


async def test_a_deletion_racing_a_login_leaves_no_token_that_works(
    client: TestClient, db: AsyncDatabase[Any]
) -> None:
    for _ in range(4):
        account = await register(client)
        email, user_id = account["user"]["email"], account["user"]["id"]
        deleted, signed = await asyncio.gather(
            delete_account(client, account, {"password": PASSWORD}), login(client, email)
        )
        assert deleted.status == 204, await deleted.text()
        assert signed.status in (200, 401), await signed.text()
        if signed.status == 200:  # the login committed first: the deletion undid it
            late = await signed.json()
            assert await me(client, late) == 401
            assert await refresh(client, late) == 401
        assert await db["users"].count_documents({"_id": user_id}) == 0
        assert await db["refresh_tokens"].count_documents({"user_id": user_id}) == 0


async def test_a_password_change_racing_a_login_with_the_old_password_leaves_it_no_token(
    client: TestClient,
) -> None:
    for _ in range(4):
        account = await register(client)
        email = account["user"]["email"]
        changed, signed = await asyncio.gather(
            change_password(client, account, PASSWORD, NEW_PASSWORD), login(client, email)
        )
        assert changed.status == 204, await changed.text()
        assert signed.status in (200, 401), await signed.text()
        if signed.status == 200:
            late = await signed.json()
            assert await me(client, late) == 401
            assert await refresh(client, late) == 401


async def test_an_unknown_email_s_deletion_route_needs_a_token(client: TestClient) -> None:
    resp = await client.delete("/api/auth/me", json={"password": PASSWORD})
    await problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "email": new_email()},
    )
    await problem(resp, 401)


async def test_every_401_of_auth_carries_a_bearer_challenge(client: TestClient) -> None:
    # RFC 9110 §15.5.2: a 401 without WWW-Authenticate is not a valid answer; each of auth's
    # kinds of 401 (problem() asserts the header on every 401 it is given).
    email = new_email()
    account = await register(client, email=email)
    used = account["refresh_token"]
    assert await refresh(client, account) == 200
    answers = {
        "wrong password": await login(client, email, "not my password at all"),
        "unknown e-mail": await login(client, new_email()),
        "bad refresh token": await client.post(
            "/api/auth/refresh", json={"refresh_token": "not-a-token"}
        ),
        "reused refresh token": await client.post(
            "/api/auth/refresh", json={"refresh_token": used}
        ),
        "wrong current password": await change_password(
            client, await signed_in(client, email, PASSWORD), "not it", NEW_PASSWORD
        ),
        "wrong deletion password": await delete_account(
            client, await signed_in(client, email, PASSWORD), {"password": "not it"}
        ),
        "no access token": await client.get("/api/auth/me"),
    }
    for case, resp in answers.items():
        await problem(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith('Bearer realm="nocturnal"'), case
