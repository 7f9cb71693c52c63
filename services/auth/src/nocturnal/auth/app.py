"""The auth service's composition root: `create_app(settings)` wires MongoDB, the signing keys,
the password hasher and the event bus into the use cases; every resource is a cleanup context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.auth import SERVICE
from nocturnal.auth.adapters.accounts import (
    MongoRefreshTokenRepository,
    MongoRevocationRepository,
    MongoUserRepository,
)
from nocturnal.auth.adapters.accounts import ensure_indexes as create_account_indexes
from nocturnal.auth.adapters.breached_passwords import breached_passwords
from nocturnal.auth.adapters.passwords import Argon2Hasher
from nocturnal.auth.adapters.signing_keys import SigningKeyStore
from nocturnal.auth.domain.signing_keys import KeySealer
from nocturnal.auth.handlers.errors import PROBLEMS
from nocturnal.auth.keys import ACCOUNTS, PASSWORD_HASHER, SIGNING_KEYS, VERIFICATION
from nocturnal.auth.routes import setup_routes
from nocturnal.auth.service_layer.accounts import Accounts
from nocturnal.auth.service_layer.ports import Repositories
from nocturnal.auth.service_layer.verification import Verification
from nocturnal.auth.settings import AuthSettings
from nocturnal.shared.auth.jwks import JwksCache
from nocturnal.shared.auth.requests import TOKEN_VERIFIER
from nocturnal.shared.auth.revocation import RevocationList
from nocturnal.shared.auth.verifier import TokenVerifier
from nocturnal.shared.events import EventBus
from nocturnal.shared.http.app import CleanupContext, create_service_app
from nocturnal.shared.http.client import http_session_context
from nocturnal.shared.http.events import serving_events
from nocturnal.shared.mongo import MONGO_DB, MongoUnitOfWork, mongo_context
from nocturnal.shared.ratelimit.requests import ratelimit_client_context


def create_app(settings: AuthSettings) -> web.Application:
    """The auth application; resources open and close as cleanup contexts, in this order."""
    app = create_service_app(settings, service=SERVICE, problems=PROBLEMS)
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
            ratelimit_client_context(settings),
        ]
    )
    setup_routes(app)
    return app


async def _create_indexes(db: AsyncDatabase[Any]) -> None:
    await create_account_indexes(db)
    await SigningKeyStore.ensure_indexes(db)


def mongo_repositories(
    db: AsyncDatabase[Any],
) -> Callable[[AsyncClientSession | None], Repositories]:
    """auth's repositories on `db`, bound to a session (or to none)."""

    def bind(session: AsyncClientSession | None) -> Repositories:
        return Repositories(
            users=MongoUserRepository(db, session),
            refresh_tokens=MongoRefreshTokenRepository(db, session),
            revocations=MongoRevocationRepository(db, session),
        )

    return bind


def _signing_keys_context(settings: AuthSettings) -> CleanupContext:
    """The key store, with a signing key ready (created if none is active), and the verifier."""

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
        hasher = Argon2Hasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.password_hash_concurrency,
            wait_s=settings.password_hash_wait_s,
            queue=settings.password_hash_queue,
        )
        app[PASSWORD_HASHER] = hasher
        try:
            yield
        finally:
            hasher.close()

    return context


def _events_context(settings: AuthSettings) -> CleanupContext:
    """The use cases on their unit of work, and the event bus (outbox relay;
    `auth.tokens_revoked` fan-out)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        db = app[MONGO_DB]
        bus = EventBus.for_service(settings, service=SERVICE, db=db)
        uow = MongoUnitOfWork(db.client, mongo_repositories(db), bus)
        verification = Verification(uow, app[SIGNING_KEYS])
        # Loaded once per process, off the event loop: some 0.4 s of reading and folding.
        blocklist = await asyncio.to_thread(breached_passwords)
        async with serving_events(app, bus, revocations=verification.revocations):
            app[ACCOUNTS] = Accounts(
                uow,
                app[PASSWORD_HASHER],
                app[SIGNING_KEYS],
                refresh_token_ttl_s=settings.refresh_token_ttl_s,
                blocklist=blocklist,
                revoked=app[TOKEN_VERIFIER].revocations.revoke,
            )
            app[VERIFICATION] = verification
            yield

    return context
