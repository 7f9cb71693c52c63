"""TokenVerifier and JwksCache against a real JWKS served over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from token_issuer import KeyServer

from nocturnal.shared.auth.claims import AUDIENCE, ISSUER, InvalidToken
from nocturnal.shared.auth.jwks import JwksCache, http_jwks
from nocturnal.shared.auth.revocation import RevocationList, http_revocations
from nocturnal.shared.auth.verifier import TokenVerifier
from nocturnal.shared.breaker import CircuitBreaker


@pytest.fixture
async def keys() -> Any:
    async with KeyServer().serve() as server, aiohttp.ClientSession() as session:
        server.session = session  # type: ignore[attr-defined]
        yield server


def verifier_for(keys: Any, **cache_options: Any) -> TokenVerifier:
    return TokenVerifier(
        JwksCache(http_jwks(keys.session, keys.jwks_url, CircuitBreaker("auth")), **cache_options),
        RevocationList(),
    )


async def test_valid_token_gives_its_principal(keys: Any) -> None:
    kid = keys.add_key()
    principal = await verifier_for(keys).verify(keys.token(kid=kid, sub="u-42", role="nurse"))
    assert (principal.user_id, principal.role) == ("u-42", "nurse")


# `exp` and `nbf` below are seconds from when the test runs: a time taken at collection is
# minutes old by the time a full session reaches the test.
TIME_CLAIMS = ("exp", "nbf")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": -120}, "expired"),
        ({"nbf": 300}, "not yet valid"),
        ({"iss": "someone-else"}, "issuer"),
        ({"aud": "other"}, "(?i)audience"),
        ({"jti": None}, "jti"),
        ({"role": None}, "role"),
    ],
)
async def test_tokens_breaking_the_policy_are_refused(
    keys: Any, overrides: dict[str, Any], reason: str
) -> None:
    kid = keys.add_key()
    now = int(time.time())
    claims = {k: now + v if k in TIME_CLAIMS else v for k, v in overrides.items()}
    with pytest.raises(InvalidToken, match=reason):
        await verifier_for(keys).verify(keys.token(kid=kid, **claims))


async def test_expired_token_within_leeway_is_accepted(keys: Any) -> None:
    kid = keys.add_key()
    token = keys.token(kid=kid, exp=int(time.time()) - 10)
    assert (await verifier_for(keys).verify(token)).user_id == "user-1"


async def test_hs256_token_signed_with_the_public_key_is_refused(keys: Any) -> None:
    kid = keys.add_key()
    forged = jwt.encode(
        {"sub": "x"},
        "public-key-bytes-that-are-long-enough",
        algorithm="HS256",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    with pytest.raises(InvalidToken, match="algorithm"):
        await verifier_for(keys).verify(forged)


async def test_token_of_another_type_is_refused(keys: Any) -> None:
    kid = keys.add_key()
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "role": "doctor"}
    claims |= {"iat": now, "nbf": now, "exp": now + 60, "jti": "j"}
    token = jwt.encode(claims, keys.keys[kid], algorithm="EdDSA", headers={"kid": kid})
    with pytest.raises(InvalidToken, match="type"):
        await verifier_for(keys).verify(token)


async def test_signature_by_an_unpublished_key_is_refused(keys: Any) -> None:
    kid = keys.add_key()
    token = keys.token(kid=kid)
    keys.keys[kid] = Ed25519PrivateKey.generate()  # the JWKS now publishes another key
    with pytest.raises(InvalidToken, match="Signature"):
        await verifier_for(keys).verify(token)


# Header bytes that are not UTF-8 reach handlers as surrogate escapes ("t\udcf6k"): PyJWT
# cannot even encode them, and they must be refused like any other malformed token.
@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b.c",
        "Bearer x.y.z",
        "t\udcf6k\udce9n",
        "t\u00f6k\u00e9n",
        "a.b.c\udcff",
        "a..b",
        "a.b.c.d.e",
    ],
)
async def test_garbage_is_refused(keys: Any, garbage: str) -> None:
    keys.add_key()
    with pytest.raises(InvalidToken):
        await verifier_for(keys).verify(garbage)


async def test_unknown_kid_refetches_once_for_concurrent_requests(keys: Any) -> None:
    first = keys.add_key()
    verifier = verifier_for(keys, min_refetch_s=0)
    await verifier.verify(keys.token(kid=first))
    fetches = keys.fetches
    rotated = keys.add_key()
    tokens = [keys.token(kid=rotated) for _ in range(20)]
    await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert keys.fetches - fetches <= 2


async def test_unknown_kid_refetch_is_rate_limited(keys: Any) -> None:
    keys.add_key()
    verifier = verifier_for(keys, min_refetch_s=60)
    await verifier.jwks.refresh(force=True)
    fetches = keys.fetches
    for _ in range(10):
        with pytest.raises(InvalidToken, match="unknown key"):
            await verifier.verify(_foreign_token())
    assert keys.fetches == fetches


def _foreign_token() -> str:
    return jwt.encode(
        {"sub": "x"},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": "never-published", "typ": "at+jwt"},
    )


async def test_a_key_dropped_from_the_jwks_stays_valid_for_its_grace(keys: Any) -> None:
    old = keys.add_key()
    token = keys.token(kid=old)
    verifier = verifier_for(keys, min_refetch_s=0, max_age_s=0)
    await verifier.verify(token)
    keys.keys.pop(old)
    keys.add_key()
    assert (await verifier.verify(token)).user_id == "user-1"

    expired = verifier_for(keys, min_refetch_s=0, max_age_s=0, retired_grace_s=0)
    keys.keys[old] = Ed25519PrivateKey.generate()
    await expired.jwks.refresh(force=True)
    keys.keys.pop(old)
    await expired.jwks.refresh(force=True)
    await expired.jwks.refresh(force=True)
    with pytest.raises(InvalidToken):
        await expired.verify(token)


async def test_revoked_tokens_are_refused_and_later_ones_accepted(keys: Any) -> None:
    kid = keys.add_key()
    verifier = verifier_for(keys)
    issued = int(time.time()) - 5
    old_token = keys.token(kid=kid, iat=issued)
    verifier.revocations.revoke("user-1", issued + 1)
    with pytest.raises(InvalidToken, match="revoked"):
        await verifier.verify(old_token)
    assert (await verifier.verify(keys.token(kid=kid, iat=issued + 1))).user_id == "user-1"


def test_leeway_above_sixty_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(JwksCache(dict), RevocationList(), leeway_s=61)  # type: ignore[arg-type]


async def test_revocation_follower_loads_epochs_and_applies_events() -> None:
    from nocturnal.shared.auth.revocation import RevocationFollower, http_revocations
    from nocturnal.shared.events import new_event

    async def epochs(_: web.Request) -> web.Response:
        return web.json_response({"items": [{"user_id": "u1", "not_before": 2_000_000_000}]})

    app = web.Application()
    app.router.add_get("/v1/revocations", epochs)
    revocations = RevocationList()
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        follower = RevocationFollower(
            revocations,
            http_revocations(session, str(server.make_url("/")), CircuitBreaker("auth")),
        )
        await follower.load()
        await follower.apply(
            new_event("auth.tokens_revoked", {"user_id": "u2", "not_before": 1_999}, service="auth")
        )
        await RevocationFollower(
            revocations, http_revocations(session, "http://127.0.0.1:9", CircuitBreaker("auth"))
        ).load()  # auth down
    assert revocations.is_revoked("u1", 1_999_999_999)
    assert not revocations.is_revoked("u1", 2_000_000_000)
    assert not revocations.is_revoked("u3", 0)


async def test_revocation_follower_refuses_malformed_events() -> None:
    from pydantic import ValidationError

    from nocturnal.shared.auth.revocation import RevocationFollower, http_revocations
    from nocturnal.shared.events import new_event

    async with aiohttp.ClientSession() as session:
        follower = RevocationFollower(
            RevocationList(),
            http_revocations(session, "http://127.0.0.1:9", CircuitBreaker("auth")),
        )
        with pytest.raises(ValidationError):
            await follower.apply(new_event("auth.tokens_revoked", {"user_id": 5}, service="auth"))


async def test_a_known_key_is_answered_at_once_while_a_stale_set_refreshes(keys: Any) -> None:
    kid = keys.add_key()
    calls = 0
    http = http_jwks(keys.session, keys.jwks_url, CircuitBreaker("auth"))

    async def slow_source() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > 1:
            await asyncio.sleep(5)  # the source is down and hangs
        return await http()

    cache = JwksCache(slow_source, max_age_s=0, min_refetch_s=0)
    verifier = TokenVerifier(cache, RevocationList())
    await verifier.verify(keys.token(kid=kid))
    started = time.monotonic()
    for _ in range(5):
        await verifier.verify(keys.token(kid=kid))
    await asyncio.sleep(0.05)
    assert time.monotonic() - started < 1.0
    assert calls == 2  # one background refresh in flight, not one per request
    cache._background.cancel()  # type: ignore[union-attr]


# A verifier remembers the tokens it verified (the signature is checked once per token); what
# can change between two uses of a token is checked on every use. The clock is the test's.


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def remembering_verifier(keys: Any, clock: Clock, **options: Any) -> TokenVerifier:
    jwks = JwksCache(
        http_jwks(keys.session, keys.jwks_url, CircuitBreaker("auth")), min_refetch_s=0
    )
    return TokenVerifier(jwks, RevocationList(), clock=clock, **options)


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature PyJWT checked, in order."""
    checked: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return checked


async def test_a_token_seen_again_is_not_checked_for_its_signature_again(
    keys: Any, signature_checks: list[str]
) -> None:
    clock = Clock()
    verifier = remembering_verifier(keys, clock)
    token = keys.token(sub="u-7", role="nurse")
    first, again = await verifier.verify(token), await verifier.verify(token)
    assert first == again
    assert (again.user_id, again.role) == ("u-7", "nurse")
    assert signature_checks == [token]


async def test_a_remembered_token_expires_at_exp_plus_the_leeway(keys: Any) -> None:
    clock = Clock()
    verifier = remembering_verifier(keys, clock, leeway_s=30)
    exp = int(clock.now) + 60
    token = keys.token(exp=exp)
    await verifier.verify(token)
    clock.now = exp + 29
    assert (await verifier.verify(token)).user_id == "user-1"
    clock.now = exp + 30
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(token)


async def test_a_remembered_token_is_refused_when_the_clock_goes_back_before_its_nbf(
    keys: Any,
) -> None:
    clock = Clock()
    verifier = remembering_verifier(keys, clock, leeway_s=30)
    now = int(clock.now)
    token = keys.token(iat=now, nbf=now + 20)
    await verifier.verify(token)
    clock.now = now - 11
    with pytest.raises(InvalidToken, match="not yet valid"):
        await verifier.verify(token)


async def test_a_remembered_token_is_refused_as_soon_as_its_user_is_revoked(keys: Any) -> None:
    clock = Clock()
    verifier = remembering_verifier(keys, clock)
    issued = int(clock.now) - 5
    token = keys.token(iat=issued)
    await verifier.verify(token)
    verifier.revocations.revoke("user-1", issued + 1)
    with pytest.raises(InvalidToken, match="revoked"):
        await verifier.verify(token)


async def test_a_remembered_token_is_checked_again_when_its_kid_names_another_key(
    keys: Any,
) -> None:
    clock = Clock()
    verifier = remembering_verifier(keys, clock)
    token = keys.token()
    await verifier.verify(token)
    keys.keys[keys.kid] = Ed25519PrivateKey.generate()  # same kid, another key
    await verifier.jwks.refresh(force=True)
    with pytest.raises(InvalidToken, match="Signature"):
        await verifier.verify(token)


async def test_a_remembered_token_dies_with_its_key_past_the_grace(keys: Any) -> None:
    clock = Clock()
    jwks = JwksCache(
        http_jwks(keys.session, keys.jwks_url, CircuitBreaker("auth")),
        min_refetch_s=0,
        retired_grace_s=0,
    )
    verifier = TokenVerifier(jwks, RevocationList(), clock=clock)
    old = keys.add_key()
    token = keys.token(kid=old)
    await verifier.verify(token)
    keys.keys.pop(old)
    await jwks.refresh(force=True)  # retired now
    await jwks.refresh(force=True)  # and past its grace of 0 s: gone
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(token)


async def test_remembered_tokens_are_bounded_the_oldest_forgotten_first(
    keys: Any, signature_checks: list[str]
) -> None:
    verifier = remembering_verifier(keys, Clock(), max_remembered=2)
    first, second, third = (keys.token(sub=f"u-{n}") for n in range(3))
    for token in (first, second, third, third, second, first):
        await verifier.verify(token)
    assert signature_checks == [first, second, third, first]


async def test_a_refused_token_is_not_remembered(keys: Any, signature_checks: list[str]) -> None:
    verifier = remembering_verifier(keys, Clock())
    expired = keys.token(exp=int(time.time()) - 120)
    for _ in range(2):
        with pytest.raises(InvalidToken, match="expired"):
            await verifier.verify(expired)
    assert signature_checks == [expired, expired]


async def test_auth_failing_opens_its_breaker_for_keys_and_revocations_alike() -> None:
    # Issue 10: JWKS and revocation reads go through auth's one peer breaker: after three
    # failures neither is sent until the half-open probe.
    from nocturnal.shared.breaker import BreakerOpen
    from nocturnal.shared.http.client import peer_session

    hits: list[str] = []

    async def unavailable(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"status": 503}, status=503)

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", unavailable)
    app.router.add_get("/v1/revocations", unavailable)
    now = [0.0]
    breaker = CircuitBreaker("auth", failure_threshold=3, open_s=2.0, clock=lambda: now[0])
    async with TestServer(app) as server, peer_session(0.5) as session:
        base = str(server.make_url("")).rstrip("/")
        keys = http_jwks(session, f"{base}/.well-known/jwks.json", breaker)
        epochs = http_revocations(session, base, breaker)
        for read in (keys, epochs, keys):
            with pytest.raises(aiohttp.ClientResponseError):
                await read()
        for read in (keys, epochs):
            with pytest.raises(BreakerOpen):
                await read()
        assert len(hits) == 3
        now[0] += 2.0
        with pytest.raises(aiohttp.ClientResponseError):
            await epochs()  # the probe: auth still failing, open again
        with pytest.raises(BreakerOpen):
            await keys()
        assert len(hits) == 4


async def test_a_peer_breaker_is_one_per_peer_and_reported_by_readiness() -> None:
    from nocturnal.shared.config import ServiceSettings
    from nocturnal.shared.health import READINESS
    from nocturnal.shared.http.app import create_service_app
    from nocturnal.shared.http.client import peer_breaker

    app = create_service_app(ServiceSettings(), service="test")
    auth = peer_breaker(app, "auth")
    assert peer_breaker(app, "auth") is auth
    assert peer_breaker(app, "upload") is not auth
    ready, checks = await app[READINESS].evaluate()
    assert (ready, checks["auth"], checks["upload"]) == (True, "ok", "ok")
    for _ in range(3):
        auth.failure()
    ready, checks = await app[READINESS].evaluate()
    # Reported, not failing readiness: the service serves on with its cached keys.
    assert (ready, checks["auth"], checks["upload"]) == (True, "failing", "ok")
