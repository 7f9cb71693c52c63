"""auth's password change and account deletion on in-memory stores: what they store, revoke,
publish, count and refuse, and the revocation epoch at the one-second boundary."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from fakes import Clock, Ids

from auth.fakes import FakeAuth, RecordingGate, noop_gate
from nocturnal.auth.domain.passwords import blocklist_form
from nocturnal.auth.domain.tokens import InvalidRefreshToken, RefreshState, refresh_token_id
from nocturnal.auth.domain.users import (
    AccountGone,
    InvalidCredentials,
    InvalidNewPassword,
    Role,
)
from nocturnal.auth.service_layer.accounts import TokenGrant
from nocturnal.auth.service_layer.ports import Gate
from nocturnal.shared.auth.claims import AUTH_CLOCK_SKEW_S, MAX_EARLY_IAT_S
from nocturnal.shared.auth.revocation import RevocationList
from nocturnal.shared.ratelimit.policies import subject_hash

PASSWORD = "correct horse battery stable"
NEW_PASSWORD = "a lantern on the night ward"
BREACHED = "passwordpassword"
EMAIL = "Ada@Example.org"


@pytest.fixture
def auth() -> FakeAuth:
    return FakeAuth(blocklist=frozenset({blocklist_form(BREACHED)}))


async def register(auth: FakeAuth, email: str = EMAIL) -> TokenGrant:
    return await auth.accounts.register(
        email, PASSWORD, name="Ada", role=Role.NURSE, gate=noop_gate
    )


async def login(auth: FakeAuth, password: str = PASSWORD) -> TokenGrant:
    return await auth.accounts.login(EMAIL, password, ip="192.0.2.1", gate=noop_gate)


def iat(auth: FakeAuth, grant: TokenGrant) -> int:
    public = auth.keys.key.public().public_key
    claims = jwt.decode(
        grant.access_token,
        public,
        algorithms=["EdDSA"],
        audience="nocturnal",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    value: int = claims["iat"]
    return value


def verifier_sees(auth: FakeAuth) -> RevocationList:
    """What a verifying instance holds once the published `auth.tokens_revoked` reached it."""
    revocations = RevocationList(clock=lambda: auth.clock.now.timestamp())
    for event in auth.uow.published:
        if event.name == "auth.tokens_revoked":
            revocations.revoke(event.data["user_id"], event.data["not_before"])
    return revocations


def is_revoked(auth: FakeAuth, grant: TokenGrant) -> bool:
    return verifier_sees(auth).is_revoked(grant.user.id, iat(auth, grant))


async def change_password(
    auth: FakeAuth,
    user_id: str,
    current: str = PASSWORD,
    new: str = NEW_PASSWORD,
    gate: Gate = noop_gate,
) -> None:
    await auth.accounts.change_password(user_id, current, new, ip="192.0.2.9", gate=gate)


async def test_a_password_change_replaces_the_hash_and_revokes_every_token(
    auth: FakeAuth,
) -> None:
    registered = await register(auth)
    other_device = await login(auth)
    gate = RecordingGate()
    await change_password(auth, registered.user.id, gate=gate)

    user = auth.users.stored[registered.user.id]
    assert user.password_hash == f"hashed:{NEW_PASSWORD}"
    assert gate.subjects == [subject_hash(registered.user.id)]
    assert all(t.state(auth.clock.now) is RefreshState.REVOKED for t in auth.tokens.stored.values())
    revoked = auth.uow.published[-1]
    assert (revoked.name, revoked.data) == (
        "auth.tokens_revoked",
        {"user_id": user.id, "not_before": user.tokens_not_before},
    )
    assert auth.told == [(user.id, user.tokens_not_before)]
    assert await auth.verification.revocations() == [revoked.data]
    assert is_revoked(auth, registered)
    assert is_revoked(auth, other_device)


async def test_after_a_password_change_only_the_new_password_signs_in_and_its_token_survives(
    auth: FakeAuth,
) -> None:
    registered = await register(auth)
    await change_password(auth, registered.user.id)
    with pytest.raises(InvalidCredentials):
        await login(auth)
    # Signing in again at once, in the same second: the token is dated at the epoch.
    fresh = await login(auth, NEW_PASSWORD)
    assert not is_revoked(auth, fresh)
    assert iat(auth, fresh) - auth.clock.now.timestamp() <= MAX_EARLY_IAT_S
    with pytest.raises(InvalidCredentials):  # replaying the change: the current one is wrong
        await change_password(auth, registered.user.id)


@pytest.mark.parametrize("fraction_s", [0.0, 0.25, 0.999])
async def test_a_token_granted_in_the_same_second_as_the_revocation_does_not_survive_it(
    auth: FakeAuth, fraction_s: float
) -> None:
    auth.clock.now = auth.clock.now.replace(microsecond=0) + timedelta(seconds=fraction_s)
    registered = await register(auth)
    stolen = await login(auth)
    auth.clock.advance(0.0005)  # the change lands within the same second (or at its very end)
    await change_password(auth, registered.user.id)
    assert iat(auth, stolen) == int(auth.clock.now.timestamp())
    assert is_revoked(auth, stolen)
    assert is_revoked(auth, registered)


async def test_a_token_from_an_instance_whose_clock_runs_ahead_does_not_survive_either(
    auth: FakeAuth,
) -> None:
    auth.clock.advance(0.5)
    registered = await register(auth)
    ahead = Clock(auth.clock.now + timedelta(seconds=AUTH_CLOCK_SKEW_S - 0.001))
    stolen = await auth.instance(ahead, Ids("ahead")).login(
        EMAIL, PASSWORD, ip="192.0.2.1", gate=noop_gate
    )
    await change_password(auth, registered.user.id)
    assert iat(auth, stolen) > int(auth.clock.now.timestamp())  # dated in the revoker's future
    assert is_revoked(auth, stolen)


async def test_a_second_change_in_the_same_second_revokes_the_token_granted_between(
    auth: FakeAuth,
) -> None:
    registered = await register(auth)
    await change_password(auth, registered.user.id)
    between = await login(auth, NEW_PASSWORD)
    auth.clock.advance(0.1)
    await change_password(auth, registered.user.id, NEW_PASSWORD, "another lantern on the ward")
    assert is_revoked(auth, between)
    last = await auth.accounts.login(
        EMAIL, "another lantern on the ward", ip="192.0.2.1", gate=noop_gate
    )
    assert not is_revoked(auth, last)


async def test_a_wrong_current_password_is_the_login_s_401_counted_and_recorded(
    auth: FakeAuth,
) -> None:
    registered = await register(auth)
    before = dict(auth.users.stored), dict(auth.tokens.stored)
    gate = RecordingGate()
    with pytest.raises(InvalidCredentials):
        await change_password(auth, registered.user.id, current="not my password at all", gate=gate)
    assert gate.subjects == [subject_hash(registered.user.id)]
    assert (dict(auth.users.stored), dict(auth.tokens.stored)) == before
    failed = auth.uow.published[-1]
    assert (failed.name, failed.data["user_id"], failed.data["reason"]) == (
        "user.login_failed",
        registered.user.id,
        "wrong_password",
    )
    assert failed.data["email_hash"] == subject_hash("ada@example.org")  # tightens its logins
    assert "auth.tokens_revoked" not in auth.uow.names()


@pytest.mark.parametrize(
    ("new", "counted", "message"),
    [
        (BREACHED, False, "breached"),
        ("short", False, "at least 15"),
        (EMAIL, False, "e-mail"),
        (PASSWORD, True, "differ from the current"),
        (f"\uff43{PASSWORD[1:]}", True, "differ from the current"),  # NFKC: the same password
    ],
    ids=["breached", "short", "the-e-mail", "the-same", "the-same-after-nfkc"],
)
async def test_a_new_password_breaking_the_policy_changes_nothing(
    auth: FakeAuth, new: str, counted: bool, message: str
) -> None:
    registered = await register(auth)
    before = dict(auth.users.stored), dict(auth.tokens.stored), auth.uow.names()
    gate = RecordingGate()
    with pytest.raises(InvalidNewPassword, match=message):
        await change_password(auth, registered.user.id, new=new, gate=gate)
    # Only "the same as the current one" needs the current password checked (and counted):
    # asked earlier, it would tell a token thief whether a guess is the current password.
    assert bool(gate.subjects) is counted
    assert (dict(auth.users.stored), dict(auth.tokens.stored), auth.uow.names()) == before


async def test_a_login_that_checked_the_old_password_while_it_changed_is_refused(
    auth: FakeAuth,
) -> None:
    registered = await register(auth)

    async def change_meanwhile() -> None:
        await change_password(auth, registered.user.id)

    auth.hasher.during_verify = change_meanwhile
    with pytest.raises(InvalidCredentials):
        await login(auth)
    assert all(t.state(auth.clock.now) is RefreshState.REVOKED for t in auth.tokens.stored.values())


async def test_deleting_an_account_removes_it_revokes_its_tokens_and_announces_it(
    auth: FakeAuth,
) -> None:
    registered = await register(auth)
    other_device = await login(auth)
    gate = RecordingGate()
    await auth.accounts.delete_account(registered.user.id, PASSWORD, ip="192.0.2.9", gate=gate)

    assert gate.subjects == [subject_hash(registered.user.id)]
    assert auth.users.stored == {}
    assert auth.tokens.stored == {}
    revoked, deleted = auth.uow.published[-2:]
    assert (deleted.name, deleted.data, deleted.subject) == (
        "user.deleted",
        {"user_id": registered.user.id},
        registered.user.id,
    )
    assert revoked.name == "auth.tokens_revoked"
    assert auth.told == [(registered.user.id, revoked.data["not_before"])]
    assert is_revoked(auth, registered)
    assert is_revoked(auth, other_device)
    with pytest.raises(AccountGone):
        await auth.accounts.delete_account(registered.user.id, PASSWORD, ip="x", gate=noop_gate)
    with pytest.raises(InvalidCredentials):
        await login(auth)
    again = await register(auth)
    assert again.user.id != registered.user.id


async def test_a_deletion_with_a_wrong_password_changes_nothing(auth: FakeAuth) -> None:
    registered = await register(auth)
    before = dict(auth.users.stored), dict(auth.tokens.stored)
    with pytest.raises(InvalidCredentials):
        await auth.accounts.delete_account(
            registered.user.id, "not my password at all", ip="x", gate=noop_gate
        )
    assert (dict(auth.users.stored), dict(auth.tokens.stored)) == before
    assert auth.uow.names()[-1] == "user.login_failed"


async def test_a_login_that_checked_the_password_while_the_account_was_deleted_is_refused(
    auth: FakeAuth,
) -> None:
    registered = await register(auth)

    async def delete_meanwhile() -> None:
        await auth.accounts.delete_account(registered.user.id, PASSWORD, ip="x", gate=noop_gate)

    auth.hasher.during_verify = delete_meanwhile
    with pytest.raises(InvalidCredentials):
        await login(auth)
    assert auth.tokens.stored == {}


async def test_a_refresh_token_of_a_deleted_account_is_refused(auth: FakeAuth) -> None:
    registered = await register(auth)
    await auth.accounts.delete_account(registered.user.id, PASSWORD, ip="x", gate=noop_gate)
    assert refresh_token_id(registered.refresh_token) not in auth.tokens.stored
    with pytest.raises(InvalidRefreshToken):
        await auth.accounts.refresh(registered.refresh_token, gate=noop_gate)
