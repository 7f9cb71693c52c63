"""Access-token verification (RFC 9068 JWT profile, EdDSA) against auth's JWKS, plus revocation epochs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel

from nocturnal.shared.events.bus import EventBus
from nocturnal.shared.events.envelope import CloudEvent
from nocturnal.shared.events.payloads import TokensRevokedData
from nocturnal.shared.http.app import CleanupContext
from nocturnal.shared.http.client import HTTP_SESSION
from nocturnal.shared.logging import bind_context, get_logger
from nocturnal.shared.problems import Problem, forbidden, unauthorized

ISSUER = "nocturnal-auth"
AUDIENCE = "nocturnal"
ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"
ACCESS_TOKEN_TTL_S = 15 * 60
REQUIRED_CLAIMS = ["iss", "aud", "sub", "role", "iat", "nbf", "exp", "jti"]
MAX_LEEWAY_S = 60

log = get_logger("auth")


class InvalidToken(Exception):
    """The presented access token is not acceptable; `str(exc)` says why (for logs only)."""


@dataclass(frozen=True)
class Principal:
    """The verified caller: `user_id` (sub), `role`, token id (`jti`) and `issued_at` (epoch s)."""

    user_id: str
    role: str
    token_id: str
    issued_at: int


KeyFetch = Callable[[], Awaitable[dict[str, Ed25519PublicKey]]]
"""Reads the currently published Ed25519 public keys by `kid` (raises on failure)."""


def http_jwks(session: aiohttp.ClientSession, jwks_url: str) -> KeyFetch:
    """A `KeyFetch` reading a JWK Set (RFC 7517) over HTTP: how api and upload find auth's keys.

    The returned callable raises `aiohttp.ClientError`, `TimeoutError` or `ValueError` (not a
    JWK Set).
    """

    async def fetch() -> dict[str, Ed25519PublicKey]:
        async with session.get(jwks_url) as response:
            response.raise_for_status()
            return _parse_jwks(await response.json())

    return fetch


class JwksCache:
    """Ed25519 public keys cached by `kid`, read through `fetch` (auth's JWKS over HTTP, or auth's
    own key store).

    An unknown `kid` triggers a refetch, single-flight (one request at a time) and rate-limited
    (at most one per `min_refetch_s` seconds); the set is also refreshed when older than
    `max_age_s`. A key dropped from the JWKS is kept for `retired_grace_s` seconds (the access
    token lifetime) so tokens it signed stay verifiable until they expire.
    """

    def __init__(
        self,
        fetch: KeyFetch,
        *,
        max_age_s: float = 300.0,
        min_refetch_s: float = 10.0,
        retired_grace_s: float = ACCESS_TOKEN_TTL_S + MAX_LEEWAY_S,
    ) -> None:
        self._fetch = fetch
        self._max_age_s = max_age_s
        self._min_refetch_s = min_refetch_s
        self._grace_s = retired_grace_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._retired_at: dict[str, float] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        """True once at least one key has been fetched."""
        return bool(self._keys)

    async def get(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for `kid`; None if the source has none.

        A known key is answered from the cache at once (a stale set is refreshed in the
        background, so a slow or absent source never delays requests); an unknown `kid` waits
        for a (rate-limited) fetch.
        """
        key = self._keys.get(kid)
        if key is None:
            await self.refresh()
            return self._keys.get(kid)
        stale = time.monotonic() - self._fetched_at > self._max_age_s
        if stale and (self._background is None or self._background.done()):
            self._background = asyncio.create_task(self.refresh())
        return key

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the keys now unless another fetch ran within `min_refetch_s` (or `force`).

        A failed fetch is logged and leaves the cached keys in place.
        """
        waiting_since = time.monotonic()
        async with self._lock:
            now = time.monotonic()
            if self._attempted_at >= waiting_since:
                return  # single flight: another caller fetched while this one waited
            if not force and now - self._attempted_at < self._min_refetch_s:
                return
            self._attempted_at = now
            try:
                fresh = await self._fetch()
            except Exception as exc:  # any source failure: keep verifying with the cached keys
                log.warning("key fetch failed", error=repr(exc))
                return
            self._replace(fresh, now)

    def _replace(self, fresh: dict[str, Ed25519PublicKey], now: float) -> None:
        for kid in self._keys.keys() - fresh.keys():
            self._retired_at.setdefault(kid, now)
        for kid in fresh:
            self._retired_at.pop(kid, None)
        expired = {k for k, at in self._retired_at.items() if now - at > self._grace_s}
        kept = {k: v for k, v in self._keys.items() if k not in fresh and k not in expired}
        self._keys = {**kept, **fresh}
        for kid in expired:
            self._retired_at.pop(kid, None)
        self._fetched_at = now


def _parse_jwks(document: Any) -> dict[str, Ed25519PublicKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk_dict in document["keys"]:
        if not isinstance(jwk_dict, dict) or jwk_dict.get("crv") != "Ed25519":
            continue
        key = jwt.PyJWK(jwk_dict, algorithm=ALGORITHM).key
        if isinstance(key, Ed25519PublicKey) and isinstance(jwk_dict.get("kid"), str):
            keys[jwk_dict["kid"]] = key
    return keys


class RevocationList:
    """Per-user revocation epochs from `auth.tokens_revoked` events (DESIGN §2).

    A token of user U issued before `not_before[U]` (epoch seconds) is rejected. Entries older
    than the access-token lifetime are pruned: every token they could reject has expired.
    """

    def __init__(self) -> None:
        self._not_before: dict[str, int] = {}

    def revoke(self, user_id: str, not_before: int) -> None:
        """Reject user `user_id`'s tokens issued before `not_before` (the latest epoch wins)."""
        self._not_before[user_id] = max(not_before, self._not_before.get(user_id, 0))
        self._prune(int(time.time()))

    def is_revoked(self, user_id: str, issued_at: int) -> bool:
        """True when a token issued at `issued_at` for `user_id` predates its revocation epoch."""
        return issued_at < self._not_before.get(user_id, 0)

    def _prune(self, now: int) -> None:
        horizon = now - ACCESS_TOKEN_TTL_S - MAX_LEEWAY_S
        self._not_before = {u: nb for u, nb in self._not_before.items() if nb > horizon}


class _Revocation(BaseModel):
    user_id: str
    not_before: int


class _Revocations(BaseModel):
    items: list[_Revocation]


EpochSource = Callable[[], Awaitable[list[dict[str, Any]]]]
"""Reads the revocation epochs still in force: `[{user_id, not_before}]` (raises on failure)."""


def http_revocations(session: aiohttp.ClientSession, auth_url: str) -> EpochSource:
    """An `EpochSource` reading auth's internal `GET {auth_url}/v1/revocations`
    (`{items: [{user_id, not_before}]}`)."""
    url = f"{auth_url.rstrip('/')}/v1/revocations"

    async def read() -> list[dict[str, Any]]:
        async with session.get(url) as response:
            response.raise_for_status()
            body: dict[str, Any] = await response.json()
        return list(body.get("items", []))

    return read


class RevocationFollower:
    """Keeps a `RevocationList` current on one verifying instance (DESIGN §2).

    Follows `auth.tokens_revoked {user_id, not_before}` on a fan-out queue of this instance and
    (re)loads the epochs still in force from `source` (auth's database in auth, its
    `/v1/revocations` route elsewhere) at start and whenever the fan-out queue reattaches,
    covering events sent while this instance could not see them. A failed load is logged, not
    raised: auth being down must not stop another service.
    """

    def __init__(self, revocations: RevocationList, source: EpochSource) -> None:
        self.revocations = revocations
        self._source = source

    def subscribe(self, bus: EventBus) -> None:
        """Register the fan-out consumer on `bus` (before the bus opens)."""
        bus.subscribe_fan_out({"auth.tokens_revoked": self.apply}, on_reattach=self.load)

    async def apply(self, event: CloudEvent) -> None:
        """Apply one `auth.tokens_revoked` event.

        Raises:
            pydantic.ValidationError: the event data lacks `user_id` / integer `not_before`.
        """
        revocation = TokensRevokedData.model_validate(event.data)
        self.revocations.revoke(revocation.user_id, revocation.not_before)

    async def load(self) -> None:
        """Apply every revocation epoch the source still holds."""
        try:
            loaded = _Revocations.model_validate({"items": await self._source()})
        except Exception as exc:  # any source failure: events keep arriving meanwhile
            log.warning("revocations not loaded", error=repr(exc))
            return
        for item in loaded.items:
            self.revocations.revoke(item.user_id, item.not_before)


class TokenVerifier:
    """The one access-token verifier (locked policy, DESIGN §2).

    Accepts only `alg=EdDSA`, `typ=at+jwt`, a known `kid`, `iss=nocturnal-auth`,
    `aud=nocturnal`, all of iss/aud/sub/role/iat/nbf/exp/jti present, `leeway_s` <= 60 s of
    clock skew, and a token not revoked by the user's revocation epoch.
    """

    def __init__(self, jwks: JwksCache, revocations: RevocationList, *, leeway_s: int = 30) -> None:
        if not 0 <= leeway_s <= MAX_LEEWAY_S:
            raise ValueError(f"leeway must be 0..{MAX_LEEWAY_S} s")
        self.jwks = jwks
        self.revocations = revocations
        self._leeway_s = leeway_s

    async def verify(self, token: str) -> Principal:
        """Verify `token` and return its principal.

        Raises:
            InvalidToken: malformed, wrong algorithm/type, unknown key, bad signature, expired,
                not yet valid, wrong issuer/audience, missing claims, or revoked.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("wrong token algorithm or type")
        if not isinstance(kid, str):
            raise InvalidToken("token has no key id")
        key = await self.jwks.get(kid)
        if key is None:
            raise InvalidToken(f"unknown key id {kid!r}")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        principal = _principal(claims)
        if self.revocations.is_revoked(principal.user_id, principal.issued_at):
            raise InvalidToken("token revoked")
        return principal


def _principal(claims: dict[str, Any]) -> Principal:
    sub, role, jti, iat = claims["sub"], claims["role"], claims["jti"], claims["iat"]
    if not all(isinstance(v, str) and v for v in (sub, role, jti)) or not isinstance(iat, int):
        raise InvalidToken("claims have the wrong types")
    return Principal(user_id=sub, role=role, token_id=jti, issued_at=iat)


TOKEN_VERIFIER = web.AppKey("token_verifier", TokenVerifier)
PRINCIPAL = web.RequestKey("principal", Principal)


def bearer_token(request: web.Request) -> str:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1).

    Raises:
        Problem: 401 with `WWW-Authenticate: Bearer` when absent or not a Bearer credential.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()
    return token.strip()


async def authenticate(request: web.Request) -> Principal:
    """The request's verified principal (cached on the request); binds `user_id` to the logs.

    Raises:
        Problem: 401 with `WWW-Authenticate: Bearer error="invalid_token"` for a bad token.
    """
    if PRINCIPAL in request:
        principal: Principal = request[PRINCIPAL]
        return principal
    token = bearer_token(request)
    try:
        principal = await request.app[TOKEN_VERIFIER].verify(token)
    except InvalidToken as exc:
        log.info("token rejected", reason=str(exc))
        raise unauthorized(
            "the access token is invalid or expired", error="invalid_token"
        ) from None
    request[PRINCIPAL] = principal
    bind_context(user_id=principal.user_id)
    return principal


async def require_role(request: web.Request, *roles: str) -> Principal:
    """Authenticate and require one of `roles`.

    Raises:
        Problem: 401 as `authenticate`; 403 when the role is not allowed.
    """
    principal = await authenticate(request)
    if principal.role not in roles:
        raise forbidden(f"this action needs the role {' or '.join(roles)}")
    return principal


def token_verifier_context(auth_url: str, *, leeway_s: int = 30) -> CleanupContext:
    """aiohttp cleanup context: a `TokenVerifier` on `{auth_url}/.well-known/jwks.json`.

    Needs `app[HTTP_SESSION]` (register `http_session_context` first). The JWKS is fetched
    at start when auth answers, otherwise on first use.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        jwks_url = f"{auth_url.rstrip('/')}/.well-known/jwks.json"
        jwks = JwksCache(http_jwks(app[HTTP_SESSION], jwks_url))
        app[TOKEN_VERIFIER] = TokenVerifier(jwks, RevocationList(), leeway_s=leeway_s)
        # Not a readiness check: a peer outage must not take every api pod out of service.
        await jwks.refresh(force=True)
        yield

    return context


__all__ = [
    "PRINCIPAL",
    "TOKEN_VERIFIER",
    "EpochSource",
    "InvalidToken",
    "JwksCache",
    "KeyFetch",
    "Principal",
    "Problem",
    "RevocationFollower",
    "RevocationList",
    "TokenVerifier",
    "authenticate",
    "bearer_token",
    "http_jwks",
    "http_revocations",
    "require_role",
    "token_verifier_context",
]
