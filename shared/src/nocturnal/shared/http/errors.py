"""Domain and use-case errors answered as problems: each service declares its table once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from nocturnal.shared.http.app import Handler
from nocturnal.shared.paging import InvalidCursor
from nocturnal.shared.problems import Problem, validation_problem

ProblemOf = Callable[[Any], Problem]
"""Turns one caught error into the problem the client gets."""


def _invalid_cursor(_: InvalidCursor) -> Problem:
    return validation_problem([{"field": "cursor", "message": "invalid cursor"}])


SHARED_PROBLEMS: Mapping[type[Exception], ProblemOf] = {InvalidCursor: _invalid_cursor}
"""Errors of the shared library every service answers the same way."""


def domain_error_middleware(problems: Mapping[type[Exception], ProblemOf]) -> Middleware:
    """Middleware raising `problems[type(exc)](exc)` for a domain or use-case error a handler
    let through (the nearest class in `exc`'s MRO wins; `SHARED_PROBLEMS` are included).

    Append it after `create_service_app`'s middlewares: the problem middleware around it renders
    the `Problem` (RFC 9457). Errors not in the table pass through unchanged (a 500).
    """
    table = {**SHARED_PROBLEMS, **problems}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            problem_of = next((table[cls] for cls in type(exc).__mro__ if cls in table), None)
            if problem_of is None:
                raise
            raise problem_of(exc) from None

    return middleware
