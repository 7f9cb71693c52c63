"""The api's middlewares: the `api` rate-limit policy, and domain errors as problems."""

from __future__ import annotations

from aiohttp import web

from nocturnal.api.domain.errors import InvalidValue, StateConflict
from nocturnal.api.service_layer import NotFound, NotPoster
from nocturnal.shared.auth.requests import authenticate
from nocturnal.shared.http.app import SETTINGS, Handler
from nocturnal.shared.http.request import client_ip
from nocturnal.shared.paging import InvalidCursor
from nocturnal.shared.problems import (
    Problem,
    conflict,
    forbidden,
    not_found,
    validation_problem,
)
from nocturnal.shared.ratelimit.requests import enforce

API_PREFIX = "/api/"
UNLIMITED_PATHS = frozenset({"/api/health"})


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every `/api/` request but `/api/health` against the `api` policy (429 when over).

    A caller with a valid token is counted as (ip, user); anyone else as (ip, anonymous) —
    a bad token is counted before its 401, so guessing tokens is limited too.
    """
    if not request.path.startswith(API_PREFIX) or request.path in UNLIMITED_PATHS:
        return await handler(request)
    ip = client_ip(request, request.app[SETTINGS].client_ip_header)
    user_id: str | None = None
    rejected: Problem | None = None
    if "Authorization" in request.headers:
        try:
            user_id = (await authenticate(request)).user_id
        except Problem as problem:
            rejected = problem
    await enforce(request, "api", ip, user_id=user_id)
    if rejected is not None:
        raise rejected
    return await handler(request)


@web.middleware
async def domain_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain and use-case errors as problems: 400 invalid value or cursor, 403 not the poster,
    404 not found (or not visible), 409 state conflict."""
    try:
        return await handler(request)
    except InvalidValue as exc:
        raise validation_problem([{"field": exc.field, "message": exc.message}]) from None
    except InvalidCursor:
        raise validation_problem([{"field": "cursor", "message": "invalid cursor"}]) from None
    except StateConflict as exc:
        raise conflict(str(exc)) from None
    except NotPoster as exc:
        raise forbidden(str(exc)) from None
    except NotFound as exc:
        raise not_found(str(exc)) from None
