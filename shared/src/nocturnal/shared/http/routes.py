"""Route tables: every route declared once, with what it takes and every answer it can give.

aiohttp serves a table's routes (`add_routes`) and the OpenAPI document describes them
(`nocturnal.shared.http.openapi`): the request, query and response models named here are the
ones the handlers validate with and render through, so the document cannot drift from the code.
A declaration costs nothing per request: the document is built once, when the app starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel

from nocturnal.shared.http.request import QueryModel, parse_query

if TYPE_CHECKING:  # the app module serves the base routes through this one
    from nocturnal.shared.http.app import Handler
    from nocturnal.shared.http.errors import ProblemTable

Shape = Any
"""What a body looks like: a pydantic model, a TypedDict or any type pydantic can describe."""


@dataclass(frozen=True)
class Json:
    """A JSON request body validated as `model` (a `RequestModel`, read with `read_json`):
    400 when empty, not JSON or invalid, 408 when it stops arriving, 413 over
    `MAX_JSON_BODY_BYTES`, 415 when not JSON or content-coded."""

    model: type[BaseModel]


@dataclass(frozen=True)
class Upload:
    """A `multipart/form-data` body with the one file part `part`, whose bytes are one of
    `media_types` (decided from the bytes, not the part's headers)."""

    media_types: tuple[str, ...]
    part: str = "file"


@dataclass(frozen=True)
class Header:
    """A response header field: what it says, and whether every such response carries it."""

    description: str
    required: bool = True


@dataclass(frozen=True)
class Link:
    """An operation a client can call next with values from this answer (an OpenAPI link):
    `operation` (its route name) with path `parameters` taken from the body (name → JSON
    Pointer, e.g. `{"duty_id": "/id"}`)."""

    operation: str
    parameters: Mapping[str, str]


def follow(parameter: str, pointer: str, *operations: str) -> tuple[Link, ...]:
    """Links to each of `operations`, passing the body's value at `pointer` as `parameter`."""
    return tuple(Link(operation, {parameter: pointer}) for operation in operations)


@dataclass(frozen=True)
class Reply:
    """An answer that is not a problem: `status`, the shape of its body (`model`; None: no body)
    in `media_type` (or in any of several), its header fields by name, and the operations it
    `links` to. A body not in JSON has a JSON Schema `model` (e.g. `{"type": "string",
    "format": "binary"}`)."""

    status: int
    description: str
    model: Shape = None
    media_type: str | tuple[str, ...] = "application/json"
    headers: Mapping[str, Header] = field(default_factory=dict)
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Bearer:
    """The route needs an access token (401 without a valid one); `roles`, when given, are the
    only ones allowed (403 for the others)."""

    roles: tuple[str, ...] = ()


SIGNED_IN = Bearer()
"""Any signed-in user."""


def roles(*names: str) -> Bearer:
    """Only users with one of these roles."""
    return Bearer(tuple(names))


@dataclass(frozen=True)
class Route:
    """One route: `method` and `path` (aiohttp's syntax) served by `handler`, named `name`.

    What it answers, besides `reply` (and `replies`): the problems that follow from the
    declaration (its `body` and `query`, `bearer`, `rate_limit` policy), the problems of its
    domain `errors` (statuses from the service's problem table), and `problems` the handler
    raises itself (status → when). An invalid query string is answered with `query_refusal`.
    `internal` routes are not routed by the gateway.
    The handler's docstring is the operation's summary (first line) and description.
    """

    method: str
    path: str
    handler: Handler
    name: str
    reply: Reply
    body: Json | Upload | None = None
    query: type[BaseModel] | None = None
    query_refusal: int = 400
    bearer: Bearer | None = None
    rate_limit: str | None = None
    errors: tuple[type[Exception], ...] = ()
    problems: Mapping[int, str] = field(default_factory=dict)
    replies: tuple[Reply, ...] = ()
    internal: bool = False


@dataclass(frozen=True)
class RouteTable:
    """A service's routes, with the problem table its domain errors are answered from."""

    service: str
    routes: tuple[Route, ...]
    problems: ProblemTable = field(default_factory=dict)


ROUTE_TABLES = web.AppKey("route_tables", list[RouteTable])


def add_routes(app: web.Application, table: RouteTable) -> None:
    """Serve every route of `table` on `app` (GET routes answer HEAD too) and keep the table
    for the app's OpenAPI document. A route without a `query` model refuses any query
    parameter (400), as a route with one refuses a parameter it does not know."""
    for route in table.routes:
        handler = route.handler if route.query is not None else _without_query(route.handler)
        if route.method == "GET":
            app.router.add_get(route.path, handler, name=route.name)
        else:
            app.router.add_route(route.method, route.path, handler, name=route.name)
    app.setdefault(ROUTE_TABLES, []).append(table)


def _without_query(handler: Handler) -> Handler:
    async def refusing_query(request: web.Request) -> web.StreamResponse:
        if request.query_string:
            parse_query(request, QueryModel)  # raises: every parameter is unknown
        return await handler(request)

    return refusing_query
