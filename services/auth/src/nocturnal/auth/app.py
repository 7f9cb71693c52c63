"""The auth service's composition root: `create_app(settings)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.auth import SERVICE
from nocturnal.auth.adapters.accounts import ACCOUNTS, AccountStore
from nocturnal.auth.adapters.passwords import PASSWORD_HASHER, PasswordHasher
from nocturnal.auth.adapters.signing_keys import SIGNING_KEYS, SigningKeyStore
from nocturnal.auth.domain.signing_keys import KeySealer
from nocturnal.auth.routes import setup_routes
from nocturnal.auth.settings import AUTH_SETTINGS, AuthSettings
from nocturnal.shared.auth.jwks import JwksCache
from nocturnal.shared.auth.requests import TOKEN_VERIFIER
from nocturnal.shared.auth.revocation import RevocationFollower, RevocationList
from nocturnal.shared.auth.verifier import TokenVerifier
from nocturnal.shared.events import EventBus
from nocturnal.shared.health import EVENT_BUS_CHECK, READINESS
from nocturnal.shared.http.app import CleanupContext, create_service_app
from nocturnal.shared.http.client import http_session_context
from nocturnal.shared.mongo import MONGO_CLIENT, MONGO_DB, mongo_context
from nocturnal.shared.ratelimit.requests import ratelimit_client_context


def create_app(settings: AuthSettings) -> web.Application:
    """The auth application; resources open and close as cleanup contexts, in this order."""
    app = create_service_app(settings, service=SERVICE)
    app[AUTH_SETTINGS] = settings
    app.cleanup_ctx.extend(
        [
            mongo_context(
                settings.mongo_url,
                settings.mongo_database,
                app_name=f"{SERVICE}/{settings.instance_name}",
                setup=_create_indexes,
            ),
            _signing_keys_context(settings),
            _password_hasher_context(settings),
            _events_context(settings),
            http_session_context(settings.peer_timeout_s),
            ratelimit_client_context(
                settings.ratelimit_url, timeout_s=settings.ratelimit_timeout_s
            ),
        ]
    )
    setup_routes(app)
    return app


async def _create_indexes(db: AsyncDatabase[Any]) -> None:
    await AccountStore.ensure_indexes(db)
    await SigningKeyStore.ensure_indexes(db)


def _signing_keys_context(settings: AuthSettings) -> CleanupContext:
    """The key store, with a signing key ready (created if none is active), and the verifier.

    auth verifies its own access tokens with the shared `TokenVerifier`, fed straight from the
    key store rather than over HTTP from itself.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        sealer = KeySealer(settings.signing_key_secret.get_secret_value())
        store = SigningKeyStore(app[MONGO_DB], sealer, lifetime_s=settings.signing_key_rotation_s)
        await store.signing_key()
        app[SIGNING_KEYS] = store
        # Fed straight from the key store: fetching its own JWKS over HTTP would race start-up.
        jwks = JwksCache(store.public_keys, min_refetch_s=1.0)
        app[TOKEN_VERIFIER] = TokenVerifier(jwks, RevocationList())
        yield

    return context


def _password_hasher_context(settings: AuthSettings) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        hasher = PasswordHasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.password_hash_concurrency,
            wait_s=settings.password_hash_wait_s,
        )
        app[PASSWORD_HASHER] = hasher
        try:
            yield
        finally:
            hasher.close()

    return context


def _events_context(settings: AuthSettings) -> CleanupContext:
    """The event bus (outbox relay; `auth.tokens_revoked` fan-out) and the account store."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        bus = EventBus.for_service(settings, service=SERVICE, db=app[MONGO_DB])
        revocations = RevocationFollower(
            app[TOKEN_VERIFIER].revocations, lambda: app[ACCOUNTS].revocations_in_force()
        )
        revocations.subscribe(bus)
        async with bus:
            app[ACCOUNTS] = AccountStore(
                app[MONGO_CLIENT], app[MONGO_DB], bus.outbox, on_commit=bus.notify
            )
            # Subscribed first, loaded second: a revocation in between is seen at least once.
            await revocations.load()

            app[READINESS].add(EVENT_BUS_CHECK, bus.ready)
            yield

    return context
