"""The OpenAPI 3.1 document of route tables, generated from the models the routes declare.

Schemas come from pydantic (JSON Schema 2020-12, which OpenAPI 3.1 uses as it is); every
problem a route can answer is listed with its RFC 9457 body, whose `type` and `title` follow
from the status (`PROBLEM_TYPES`). Built once per app, at start-up, and served as bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from nocturnal.shared.http.errors import problem_of
from nocturnal.shared.http.overload import sheddable
from nocturnal.shared.http.routes import (
    Header,
    Json,
    Reply,
    Route,
    RouteTable,
    Shape,
    Upload,
)
from nocturnal.shared.problems import (
    PROBLEM_CONTENT_TYPE,
    ProblemDetails,
    problem_type,
)

OPENAPI_VERSION = "3.1.0"
BEARER_SCHEME = "bearerAuth"
_REF = "#/components/schemas/{model}"
_PATH_PARAMETER = re.compile(r"\{([^{}:]+)(?::[^{}]*)?\}")
# "No such resource (HTTP 404)": the document says the status already.
_HTTP_STATUS_NOTE = re.compile(r" \(HTTP \d{3}\)")

REQUEST_ID = Header(
    "The request id (the client's own, or one made for it): quote it when reporting."
)
RATELIMIT_HEADERS = {
    "RateLimit-Policy": Header(
        'The policy: `"<name>";q=<limit>;w=<window seconds>` (IETF RateLimit header fields).',
        required=False,
    ),
    "RateLimit": Header(
        'What is left: `"<name>";r=<remaining>;t=<seconds until reset>`.', required=False
    ),
}
RETRY_AFTER = Header("Seconds to wait before retrying.")
WWW_AUTHENTICATE = Header(
    '`Bearer realm="nocturnal"` on every 401, with `error="invalid_token"` for a bad access token.'
)
BAD_TOKEN = "no access token, or an invalid or expired one"
STANDARD_HEADERS = {
    "X-Request-ID": REQUEST_ID,
    **RATELIMIT_HEADERS,
    "Retry-After": RETRY_AFTER,
    "WWW-Authenticate": WWW_AUTHENTICATE,
}
"""Header fields the document defines once (`components/headers`) and refers to."""


def openapi_document(
    tables: Sequence[RouteTable],
    *,
    title: str,
    version: str,
    description: str = "",
    public_only: bool = False,
    servers: Sequence[Mapping[str, str]] = (),
    every_route: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `tables` (the gateway's routes alone when `public_only`).

    `every_route` adds problems any operation may answer (status → when), e.g. the gateway's
    502 and 504.

    Raises:
        ValueError: a route names an error its table does not answer, two operations share
            a path and method or an operationId, or a link names an operation not in it.
    """
    routes = [
        (table, route)
        for table in tables
        for route in table.routes
        if not (public_only and route.internal)
    ]
    schemas = _Schemas([route for _, route in routes])
    paths: dict[str, dict[str, Any]] = {}
    names: set[str] = set()
    for table, route in routes:
        path = _PATH_PARAMETER.sub(r"{\1}", route.path)
        method = route.method.lower()
        if method in paths.get(path, {}) or route.name in names:
            raise ValueError(f"{route.name}: {route.method} {path} is declared twice")
        names.add(route.name)
        operation = _operation(table, route, schemas, every_route or {})
        paths.setdefault(path, {})[method] = operation
    for _, route in routes:
        for reply in _replies(route):
            for link in reply.links:
                if link.operation not in names:
                    raise ValueError(f"{route.name} links to {link.operation}, not in the document")
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from /api/auth/register, login or refresh.",
                }
            },
            "headers": {name: _header(header) for name, header in STANDARD_HEADERS.items()},
        },
    }
    if description:
        document["info"]["description"] = description
    if servers:
        document["servers"] = [dict(server) for server in servers]
    return document


def _operation(
    table: RouteTable, route: Route, schemas: _Schemas, every_route: Mapping[int, str]
) -> dict[str, Any]:
    summary, description = _docstring(route)
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": summary,
        "tags": [table.service],
    }
    if description:
        operation["description"] = description
    parameters = [*_path_parameters(route.path), *_query_parameters(route, schemas)]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = _request_body(route.body, schemas)
    if route.bearer is not None:
        operation["security"] = [{BEARER_SCHEME: []}]
    responses = {str(reply.status): _reply(reply, route, schemas) for reply in _replies(route)}
    problems = _problems(table, route)
    for status, when in every_route.items():
        problems.setdefault(status, []).append(when)
    for status in sorted(problems):
        responses[str(status)] = _problem_response(status, problems[status], route, schemas)
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _docstring(route: Route) -> tuple[str, str]:
    lines = (route.handler.__doc__ or "").strip().splitlines()
    first = lines[0] if lines else route.name
    rest = " ".join(line.strip() for line in lines[1:] if line.strip())
    return first[:1].upper() + first[1:], rest


def _replies(route: Route) -> Iterator[Reply]:
    yield route.reply
    yield from route.replies


def _path_parameters(path: str) -> Iterator[dict[str, Any]]:
    for name in _PATH_PARAMETER.findall(path):
        yield {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query_parameters(route: Route, schemas: _Schemas) -> Iterator[dict[str, Any]]:
    if route.query is None:
        return
    model = schemas.query(route.query)
    required = set(model.get("required", ()))
    for name, schema in model.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": _without_null(schema),
        }
        if "description" in schema:
            parameter["description"] = schema["description"]
        yield parameter


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    # An optional query parameter is absent, never null: a query string has no null.
    branches = [branch for branch in schema.get("anyOf", ()) if branch != {"type": "null"}]
    if "anyOf" not in schema or len(branches) != 1:
        return schema
    rest = {
        key: value
        for key, value in schema.items()
        if key != "anyOf" and not (key == "default" and value is None)
    }
    return {**rest, **branches[0]}


def _request_body(body: Json | Upload, schemas: _Schemas) -> dict[str, Any]:
    if isinstance(body, Json):
        media = {"application/json": {"schema": schemas.ref(body.model, "validation")}}
        return {"required": True, "content": media}
    file_part = {
        "type": "object",
        "properties": {body.part: {"type": "string", "format": "binary"}},
        "required": [body.part],
        "additionalProperties": False,
    }
    encoding = {body.part: {"contentType": ", ".join(body.media_types)}}
    media = {"multipart/form-data": {"schema": file_part, "encoding": encoding}}
    return {"required": True, "content": media}


def _reply(reply: Reply, route: Route, schemas: _Schemas) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": reply.description,
        "headers": _headers(route, reply.headers),
    }
    if reply.links:
        response["links"] = {
            link.operation: {
                "operationId": link.operation,
                "parameters": {
                    name: f"$response.body#{pointer}" for name, pointer in link.parameters.items()
                },
            }
            for link in reply.links
        }
    if reply.model is None:
        return response
    response["content"] = {
        media_type: {
            "schema": schemas.ref(reply.model, "serialization")
            if _is_json(media_type)
            else dict(reply.model)
        }
        for media_type in _media_types(reply)
    }
    return response


def _media_types(reply: Reply) -> tuple[str, ...]:
    return (reply.media_type,) if isinstance(reply.media_type, str) else reply.media_type


def _problems(table: RouteTable, route: Route) -> dict[int, list[str]]:
    """Every problem status of `route`, each with the cases it is answered in."""
    found: dict[int, list[str]] = {}

    def add(status: int, when: str) -> None:
        found.setdefault(status, [])
        if when not in found[status]:
            found[status].append(when)

    if isinstance(route.body, Json):
        add(400, "the body is empty or not JSON, or has unknown fields or invalid values")
        add(408, "the body stopped arriving")
        add(413, "the body is larger than the service's MAX_JSON_BODY_BYTES")
        add(415, "the body is not application/json, or is content-coded")
    elif isinstance(route.body, Upload):
        add(400, f"the body is malformed, or not exactly one part named {route.body.part!r}")
        add(408, "the upload stalled")
        add(413, "the file is larger than its kind allows")
        add(415, "the body is not multipart/form-data, or the file's bytes are not accepted")
    if route.query is not None:
        add(route.query_refusal, "a query parameter is missing or has an invalid value")
    else:
        add(400, "a query parameter was given: the route takes none")
    if route.bearer is not None:
        add(401, BAD_TOKEN)
    if route.bearer is not None and route.bearer.roles:
        add(403, f"the caller's role is not {' or '.join(route.bearer.roles)}")
    if route.rate_limit is not None:
        add(429, f"the {route.rate_limit} rate-limit policy is exhausted for this caller")
    for error in route.errors:
        answer = problem_of(table.problems, error)
        if answer is None:
            raise ValueError(f"{route.name}: {error.__name__} is not in {table.service}'s table")
        add(answer.status, _first_line(error.__doc__) or error.__name__)
    for status, when in route.problems.items():
        add(status, when)
    if sheddable(route.path):
        add(503, "the instance is at its limit of requests in progress (MAX_IN_FLIGHT)")
    return found


def _problem_response(
    status: int, cases: Sequence[str], route: Route, schemas: _Schemas
) -> dict[str, Any]:
    headers: dict[str, Header] = {}
    if status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if status in (429, 503):
        headers["Retry-After"] = RETRY_AFTER
    row = problem_type(status)
    return {
        "description": f"{row.title}: " + "; ".join(cases) + ".",
        "headers": _headers(route, headers),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": schemas.problem(status)}},
    }


def _headers(route: Route, extra: Mapping[str, Header]) -> dict[str, Any]:
    names = ["X-Request-ID"]
    if route.rate_limit is not None:
        names += RATELIMIT_HEADERS
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in names}
    for name, header in extra.items():
        headers[name] = (
            {"$ref": f"#/components/headers/{name}"}
            if STANDARD_HEADERS.get(name) == header
            else _header(header)
        )
    return headers


def _header(header: Header) -> dict[str, Any]:
    return {
        "description": header.description,
        "required": header.required,
        "schema": {"type": "string"},
    }


def _first_line(text: str | None) -> str:
    line = (text or "").strip().split("\n", 1)[0].rstrip(".")
    line = _HTTP_STATUS_NOTE.sub("", line)
    return line[:1].lower() + line[1:]


class _Schemas:
    """The JSON Schemas of every shape the routes name, generated together by pydantic so that
    shared definitions (enums, nested models) appear once under `components/schemas`; and the
    schema of each problem status the document uses."""

    def __init__(self, routes: Sequence[Route]) -> None:
        wanted: dict[tuple[int, JsonSchemaMode], Shape] = {
            (id(ProblemDetails), "serialization"): ProblemDetails
        }
        for route in routes:
            if isinstance(route.body, Json):
                wanted[(id(route.body.model), "validation")] = route.body.model
            if route.query is not None:
                wanted[(id(route.query), "validation")] = route.query
            for reply in _replies(route):
                if reply.model is not None and any(map(_is_json, _media_types(reply))):
                    wanted[(id(reply.model), "serialization")] = reply.model
        refs, top = TypeAdapter.json_schemas(
            [(key, key[1], TypeAdapter(shape)) for key, shape in wanted.items()],
            ref_template=_REF,
        )
        self._refs = {key: schema for (key, _), schema in refs.items()}
        self._definitions: dict[str, Any] = top.get("$defs", {})
        self._query_models = {
            self._name(self._refs[(id(route.query), "validation")])
            for route in routes
            if route.query is not None
        }
        self._problems: set[int] = set()

    def ref(self, shape: Shape, mode: JsonSchemaMode) -> dict[str, Any]:
        """The schema of `shape` (a `$ref` to the components for a named model)."""
        return dict(self._refs[(id(shape), mode)])

    def query(self, model: type[BaseModel]) -> dict[str, Any]:
        """The object schema of a query model: its properties become parameters."""
        schema: dict[str, Any] = self._definitions[
            self._name(self._refs[(id(model), "validation")])
        ]
        return schema

    def problem(self, status: int) -> dict[str, Any]:
        """The body schema of a problem with `status`: `ProblemDetails` with that status's
        `type` and `title`."""
        self._problems.add(status)
        return {"$ref": _REF.format(model=_problem_name(status))}

    @property
    def components(self) -> dict[str, Any]:
        """Every definition the document refers to, by name."""
        # A generic shape's title is its origin's (`PageBody`): name each after its definition,
        # so that client generators, which name classes by title, tell them apart.
        components = {
            name: {**schema, "title": name} if "title" in schema else schema
            for name, schema in self._definitions.items()
            if name not in self._query_models
        }
        details = self._name(self._refs[(id(ProblemDetails), "serialization")])
        for status in sorted(self._problems):
            row = problem_type(status)
            components[_problem_name(status)] = {
                "allOf": [{"$ref": _REF.format(model=details)}],
                "properties": {
                    "type": {"const": row.uri},
                    "title": {"const": row.title},
                    "status": {"const": status},
                },
                "description": f"A {status} {row.title} problem (RFC 9457).",
            }
        return dict(sorted(components.items()))

    @staticmethod
    def _name(ref: Mapping[str, Any]) -> str:
        return str(ref["$ref"]).rsplit("/", 1)[1]


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _problem_name(status: int) -> str:
    return problem_type(status).title.replace(" ", "") + "Problem"
