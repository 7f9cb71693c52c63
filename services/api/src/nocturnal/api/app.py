"""The api application factory: routes, middlewares and every resource as a cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.api.adapters.applications import ApplicationRepository
from nocturnal.api.adapters.duties import DutyRepository
from nocturnal.api.adapters.notifications import NotificationRepository
from nocturnal.api.adapters.outbox import BusOutbox
from nocturnal.api.adapters.profiles import ProfileRepository
from nocturnal.api.adapters.upload import UploadClient
from nocturnal.api.handlers.events import EventHandlers
from nocturnal.api.handlers.middleware import domain_error_middleware, rate_limit_middleware
from nocturnal.api.keys import MARKETPLACE, NOTIFICATIONS, PROFILES, UPLOAD_CLIENT
from nocturnal.api.routes import setup_routes
from nocturnal.api.service_layer import Marketplace
from nocturnal.api.settings import ApiSettings
from nocturnal.shared.auth.requests import TOKEN_VERIFIER, token_verifier_context
from nocturnal.shared.auth.revocation import RevocationFollower, http_revocations
from nocturnal.shared.events import EventBus
from nocturnal.shared.health import EVENT_BUS_CHECK, READINESS
from nocturnal.shared.http.app import CleanupContext, create_service_app
from nocturnal.shared.http.client import HTTP_SESSION, http_session_context
from nocturnal.shared.mongo import MONGO_DB, Document, mongo_context
from nocturnal.shared.ratelimit.requests import ratelimit_client_context

SERVICE_NAME = "api"


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    """The api collections' indexes (idempotent); the event bus adds outbox and inbox ones."""
    await DutyRepository(db).ensure_indexes()
    await ApplicationRepository(db).ensure_indexes()
    await NotificationRepository(db).ensure_indexes()


def events_context(settings: ApiSettings) -> CleanupContext:
    """Repositories, the marketplace and the event bus (outbox relay and consumers).

    Needs `app[MONGO_DB]`, `app[HTTP_SESSION]` and `app[TOKEN_VERIFIER]`.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        db = app[MONGO_DB]
        bus = EventBus.for_service(settings, service=SERVICE_NAME, db=db)
        marketplace = Marketplace(db, DutyRepository(db), ApplicationRepository(db), BusOutbox(bus))
        profiles, notifications = ProfileRepository(db), NotificationRepository(db)
        bus.subscribe(EventHandlers(profiles, marketplace, notifications).table())
        revocations = RevocationFollower(
            app[TOKEN_VERIFIER].revocations, http_revocations(app[HTTP_SESSION], settings.auth_url)
        )
        revocations.subscribe(bus)
        async with bus:
            app[MARKETPLACE] = marketplace
            app[PROFILES] = profiles
            app[NOTIFICATIONS] = notifications
            app[UPLOAD_CLIENT] = UploadClient(
                app[HTTP_SESSION], settings.upload_url, expires_in_s=settings.photo_url_ttl_s
            )
            app[READINESS].add(EVENT_BUS_CHECK, bus.ready)
            # Subscribed first, loaded second: a revocation in between is seen at least once.
            await revocations.load()
            yield

    return context


def create_app(settings: ApiSettings) -> web.Application:
    """The api service: profiles, duties, applications and notifications (DESIGN §1)."""
    app = create_service_app(settings, service=SERVICE_NAME)
    app.middlewares.extend([rate_limit_middleware, domain_error_middleware])
    app.cleanup_ctx.extend(
        [
            http_session_context(settings.peer_timeout_s),
            mongo_context(
                settings.mongo_url,
                settings.mongo_database,
                app_name=f"nocturnal-{SERVICE_NAME}",
                setup=create_indexes,
            ),
            token_verifier_context(settings.auth_url),
            ratelimit_client_context(
                settings.ratelimit_url, timeout_s=settings.ratelimit_timeout_s
            ),
            events_context(settings),
        ]
    )
    setup_routes(app)
    return app
