"""Authenticating aiohttp requests: the Bearer token, the verified principal, roles, and the
cleanup context that gives an app its `TokenVerifier`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from nocturnal.shared.auth.claims import InvalidToken, Principal
from nocturnal.shared.auth.jwks import JwksCache, http_jwks
from nocturnal.shared.auth.revocation import RevocationList
from nocturnal.shared.auth.verifier import TokenVerifier
from nocturnal.shared.http.app import CleanupContext
from nocturnal.shared.http.client import HTTP_SESSION, peer_breaker
from nocturnal.shared.logging import bind_context, get_logger
from nocturnal.shared.problems import forbidden, unauthorized

log = get_logger("auth")

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
    at start when auth answers, otherwise on first use, through auth's `peer_breaker`.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        jwks_url = f"{auth_url.rstrip('/')}/.well-known/jwks.json"
        jwks = JwksCache(http_jwks(app[HTTP_SESSION], jwks_url, peer_breaker(app, "auth")))
        app[TOKEN_VERIFIER] = TokenVerifier(jwks, RevocationList(), leeway_s=leeway_s)
        # Not a readiness check: a peer outage must not take every api pod out of service.
        await jwks.refresh(force=True)
        yield

    return context
