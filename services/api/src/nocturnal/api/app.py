"""The api's composition root: `create_app(settings)` wires adapters into the use cases, and
every resource opens and closes as a cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.api import SERVICE
from nocturnal.api.adapters.applications import MongoApplicationRepository
from nocturnal.api.adapters.duties import MongoDutyRepository
from nocturnal.api.adapters.notifications import MongoNotificationRepository
from nocturnal.api.adapters.profiles import MongoProfileRepository
from nocturnal.api.adapters.upload import UploadClient
from nocturnal.api.handlers.errors import PROBLEMS
from nocturnal.api.handlers.events import EventHandlers
from nocturnal.api.handlers.rate_limit import rate_limit
from nocturnal.api.keys import MARKETPLACE, NOTIFICATIONS, PROFILES
from nocturnal.api.routes import setup_routes
from nocturnal.api.service_layer.marketplace import Marketplace
from nocturnal.api.service_layer.members import Notifications, Profiles
from nocturnal.api.service_layer.ports import Repositories
from nocturnal.api.settings import ApiSettings
from nocturnal.shared.auth.requests import token_verifier_context
from nocturnal.shared.auth.revocation import http_revocations
from nocturnal.shared.erasure import MongoErasureLedger
from nocturnal.shared.events import EventBus
from nocturnal.shared.http.app import CleanupContext, create_service_app
from nocturnal.shared.http.client import HTTP_SESSION, http_session_context, peer_breaker
from nocturnal.shared.http.events import serving_events
from nocturnal.shared.mongo import MONGO_DB, Document, MongoUnitOfWork, mongo_context
from nocturnal.shared.ratelimit.requests import ratelimit_client_context


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    """The api collections' indexes (idempotent); the event bus adds outbox and inbox ones."""
    await MongoDutyRepository(db).ensure_indexes()
    await MongoApplicationRepository(db).ensure_indexes()
    await MongoNotificationRepository(db).ensure_indexes()


def mongo_repositories(
    db: AsyncDatabase[Document],
) -> Callable[[AsyncClientSession | None], Repositories]:
    """The api's repositories on `db`, bound to a session (or to none)."""

    def bind(session: AsyncClientSession | None) -> Repositories:
        return Repositories(
            duties=MongoDutyRepository(db, session),
            applications=MongoApplicationRepository(db, session),
            profiles=MongoProfileRepository(db, session),
            notifications=MongoNotificationRepository(db, session),
            erasures=MongoErasureLedger(db, session),
        )

    return bind


def events_context(settings: ApiSettings) -> CleanupContext:
    """The use cases on their unit of work, and the event bus (outbox relay and consumers).

    Needs `app[MONGO_DB]`, `app[HTTP_SESSION]` and the token verifier.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        db = app[MONGO_DB]
        bus = EventBus.for_service(settings, service=SERVICE, db=db)
        uow = MongoUnitOfWork(db.client, mongo_repositories(db), bus)
        photos = UploadClient(
            app[HTTP_SESSION],
            settings.upload_url,
            expires_in_s=settings.photo_url_ttl_s,
            breaker=peer_breaker(app, "upload"),
        )
        marketplace = Marketplace(uow)
        profiles, notifications = Profiles(uow, photos), Notifications(uow)
        handlers = EventHandlers(marketplace, profiles, notifications).table()
        bus.subscribe({name: uow.joining(handler) for name, handler in handlers.items()})
        revocations = http_revocations(
            app[HTTP_SESSION], settings.auth_url, peer_breaker(app, "auth")
        )
        async with serving_events(app, bus, revocations=revocations):
            app[MARKETPLACE] = marketplace
            app[PROFILES] = profiles
            app[NOTIFICATIONS] = notifications
            yield

    return context


def create_app(settings: ApiSettings) -> web.Application:
    """The api service: profiles, duties, applications and notifications (DESIGN §1)."""
    app = create_service_app(settings, service=SERVICE, problems=PROBLEMS, guard=rate_limit)
    app.cleanup_ctx.extend(
        [
            http_session_context(settings.peer_timeout_s),
            mongo_context(
                settings.mongo_url,
                settings.mongo_database,
                app_name=f"nocturnal-{SERVICE}",
                setup=create_indexes,
            ),
            token_verifier_context(settings.auth_url),
            ratelimit_client_context(settings),
            events_context(settings),
        ]
    )
    setup_routes(app)
    return app
