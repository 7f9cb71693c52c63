"""auth's use cases on in-memory stores: what registering, signing in, rotating and signing
out store, publish, count and refuse."""

from __future__ import annotations

import jwt
import pytest

from auth.fakes import FakeAuth, RecordingGate, noop_gate
from nocturnal.auth.domain.tokens import InvalidRefreshToken, RefreshState, refresh_token_id
from nocturnal.auth.domain.users import (
    AccountGone,
    EmailTaken,
    InvalidCredentials,
    InvalidRegistration,
    Role,
)
from nocturnal.auth.service_layer.accounts import TokenGrant
from nocturnal.auth.service_layer.ports import REVOCATION_RETENTION_S, HasherBusy
from nocturnal.shared.auth.claims import ACCESS_TOKEN_TTL_S
from nocturnal.shared.ratelimit.policies import subject_hash

PASSWORD = "correct horse battery stable"


@pytest.fixture
def auth() -> FakeAuth:
    return FakeAuth()


async def register(auth: FakeAuth, email: str = "Ada@Example.org") -> TokenGrant:
    return await auth.accounts.register(
        email, PASSWORD, name="Ada", role=Role.NURSE, gate=noop_gate
    )


def claims(auth: FakeAuth, grant: TokenGrant) -> dict[str, object]:
    public = auth.keys.key.public().public_key
    # Signed at the fake clock's time: check the signature, not the times.
    decoded: dict[str, object] = jwt.decode(
        grant.access_token,
        public,
        algorithms=["EdDSA"],
        audience="nocturnal",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    return decoded


async def test_registering_stores_the_account_and_announces_it(auth: FakeAuth) -> None:
    gate = RecordingGate()
    grant = await auth.accounts.register(
        "Ada@Example.org", PASSWORD, name="Ada", role=Role.NURSE, gate=gate
    )
    assert gate.subjects == [subject_hash("ada@example.org")]
    user = auth.users.stored[grant.user.id]
    assert (user.email, user.email_canonical, user.password_hash) == (
        "Ada@Example.org",
        "ada@example.org",
        f"hashed:{PASSWORD}",
    )
    [event] = auth.uow.published
    assert (event.name, event.subject, event.data["email"]) == (
        "user.registered",
        user.id,
        "Ada@Example.org",
    )
    assert (claims(auth, grant)["sub"], grant.expires_in) == (user.id, ACCESS_TOKEN_TTL_S)
    assert refresh_token_id(grant.refresh_token) in auth.tokens.stored


async def test_a_bad_registration_is_refused_before_it_counts_or_hashes(auth: FakeAuth) -> None:
    gate = RecordingGate()
    with pytest.raises(InvalidRegistration):
        await auth.accounts.register("ada@", "short", name="Ada", role=Role.NURSE, gate=gate)
    assert (gate.subjects, auth.users.stored) == ([], {})
    await register(auth)
    with pytest.raises(EmailTaken):
        await register(auth, "ADA@example.org")


async def test_every_login_and_token_has_ids_of_its_own(auth: FakeAuth) -> None:
    first = await register(auth)
    second = await auth.accounts.login("ada@example.org", PASSWORD, ip="192.0.2.1", gate=noop_gate)
    families = {token.family_id for token in auth.tokens.stored.values()}
    assert len(families) == 2
    assert claims(auth, first)["jti"] != claims(auth, second)["jti"]


async def test_a_failed_login_is_one_answer_and_recorded_either_way(auth: FakeAuth) -> None:
    user = (await register(auth)).user
    for email, password in [
        ("ada@example.org", "wrong password!"),
        ("nobody@example.org", PASSWORD),
    ]:
        with pytest.raises(InvalidCredentials):
            await auth.accounts.login(email, password, ip="192.0.2.1", gate=noop_gate)
    failed = [e for e in auth.uow.published if e.name == "user.login_failed"]
    assert [(e.data["user_id"], e.data["reason"]) for e in failed] == [
        (user.id, "wrong_password"),
        (None, "unknown_email"),
    ]
    assert auth.hasher.verifications == 2  # the unknown address was verified too


async def test_a_login_upgrades_a_weak_hash_unless_the_hasher_is_busy(auth: FakeAuth) -> None:
    user = (await register(auth)).user
    auth.hasher.weak.add(f"hashed:{PASSWORD}")
    auth.hasher.salt = "v2:"
    await auth.accounts.login("ada@example.org", PASSWORD, ip="192.0.2.1", gate=noop_gate)
    assert auth.uow.names()[-1] == "user.login_succeeded"
    assert auth.users.stored[user.id].password_hash == f"v2:hashed:{PASSWORD}"
    auth.hasher.busy = True
    with pytest.raises(HasherBusy):
        await auth.accounts.login("ada@example.org", PASSWORD, ip="192.0.2.1", gate=noop_gate)


async def test_a_refresh_token_rotates_once_and_a_replay_revokes_its_family(
    auth: FakeAuth,
) -> None:
    grant = await register(auth)
    gate = RecordingGate()
    rotated = await auth.accounts.refresh(grant.refresh_token, gate=gate)
    assert gate.subjects == [subject_hash(grant.user.id)]
    with pytest.raises(InvalidRefreshToken):
        await auth.accounts.refresh(grant.refresh_token, gate=noop_gate)
    assert all(t.state(auth.clock.now) is RefreshState.REVOKED for t in auth.tokens.stored.values())
    with pytest.raises(InvalidRefreshToken):
        await auth.accounts.refresh(rotated.refresh_token, gate=noop_gate)
    revoked = auth.uow.published[-1]
    not_before = int(auth.clock.now.timestamp()) + 2  # the next second, plus the skew allowance
    assert (revoked.name, revoked.data) == (
        "auth.tokens_revoked",
        {"user_id": grant.user.id, "not_before": not_before},
    )
    assert await auth.verification.revocations() == [revoked.data]
    auth.clock.advance(REVOCATION_RETENTION_S)
    assert await auth.verification.revocations() == []


async def test_an_unknown_or_expired_refresh_token_is_refused(auth: FakeAuth) -> None:
    gate = RecordingGate()
    with pytest.raises(InvalidRefreshToken):
        await auth.accounts.refresh("never-issued", gate=gate)
    assert gate.subjects == [None]
    grant = await register(auth)
    auth.clock.advance(3601)
    with pytest.raises(InvalidRefreshToken):
        await auth.accounts.refresh(grant.refresh_token, gate=noop_gate)


async def test_logout_revokes_the_family_and_an_unknown_token_changes_nothing(
    auth: FakeAuth,
) -> None:
    grant = await register(auth)
    await auth.accounts.logout("never-issued")
    await auth.accounts.logout(grant.refresh_token)
    [token] = auth.tokens.stored.values()
    assert token.state(auth.clock.now) is RefreshState.REVOKED
    assert auth.uow.names() == ["user.registered"]


async def test_the_account_of_a_deleted_user_is_gone(auth: FakeAuth) -> None:
    user = (await register(auth)).user
    assert await auth.accounts.account(user.id) == user
    with pytest.raises(AccountGone):
        await auth.accounts.account("deleted-user")
