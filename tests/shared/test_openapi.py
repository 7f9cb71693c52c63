"""The OpenAPI document of route tables: every answer a declaration implies, nothing else."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from aiohttp import web
from openapi_spec_validator import validate
from pydantic import Field
from typing_extensions import TypedDict

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import OPENAPI_JSON, create_service_app
from nocturnal.shared.http.errors import ProblemOf
from nocturnal.shared.http.openapi import openapi_document
from nocturnal.shared.http.request import QueryModel, RequestModel
from nocturnal.shared.http.routes import (
    SIGNED_IN,
    Json,
    Link,
    Reply,
    Route,
    RouteTable,
    add_routes,
    roles,
)
from nocturnal.shared.problems import Problem


class ShiftFull(Exception):
    """Every seat of the shift is taken."""


class Busy(Exception):
    """Too busy (HTTP 503)."""


class Unlisted(Exception):
    """Not in any table."""


class ShiftBody(RequestModel):
    title: Annotated[str, Field(min_length=1, max_length=50)]
    note: str = ""


class ShiftView(TypedDict):
    id: str
    title: str


class ShiftQuery(QueryModel):
    day: Annotated[str, Field(description="which day")]
    late: bool | None = None


async def handler(_: web.Request) -> web.Response:
    """Book a shift.

    More about booking.
    """
    raise NotImplementedError


PROBLEMS = {
    ShiftFull: ProblemOf(409, str),
    Busy: ProblemOf(503, "busy", headers={"Retry-After": "1"}),
}
BOOK = Route(
    "POST",
    "/shifts/{day}",
    handler,
    "book",
    Reply(201, "Booked.", ShiftView, links=(Link("shift", {"shift_id": "/id"}),)),
    body=Json(ShiftBody),
    bearer=roles("admin"),
    rate_limit="api",
    errors=(ShiftFull, Busy),
    problems={404: "no such day"},
)
SHIFT = Route(
    "GET",
    "/shifts/{day}/{shift_id:[0-9a-f]+}",
    handler,
    "shift",
    Reply(200, "The shift.", ShiftView),
    query=ShiftQuery,
    bearer=SIGNED_IN,
)
TABLE = RouteTable("test", (BOOK, SHIFT), PROBLEMS)


def document(*routes: Route, **options: Any) -> dict[str, Any]:
    return openapi_document(
        [RouteTable("test", routes, PROBLEMS)], title="t", version="1", **options
    )


def test_a_route_answers_what_its_declaration_implies() -> None:
    spec = openapi_document([TABLE], title="t", version="1")
    validate(spec)
    operation = spec["paths"]["/shifts/{day}"]["post"]
    assert sorted(operation["responses"]) == [
        "201",
        "400",
        "401",
        "403",
        "404",
        "408",
        "409",
        "413",
        "415",
        "429",
        "503",
    ]
    assert operation["summary"] == "Book a shift."
    assert operation["description"] == "More about booking."
    assert operation["security"] == [{"bearerAuth": []}]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ShiftBody"
    }
    responses = operation["responses"]
    assert "every seat of the shift is taken" in responses["409"]["description"]
    assert responses["503"]["description"] == (
        "Service Unavailable: too busy; the instance is at its limit of requests in progress"
        " (MAX_IN_FLIGHT)."
    )
    assert "Retry-After" in responses["503"]["headers"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= responses["429"]["headers"].keys()
    assert responses["201"]["links"]["shift"] == {
        "operationId": "shift",
        "parameters": {"shift_id": "$response.body#/id"},
    }
    conflict = spec["components"]["schemas"]["ConflictProblem"]
    assert conflict["properties"]["status"] == {"const": 409}
    assert conflict["allOf"] == [{"$ref": "#/components/schemas/ProblemDetails"}]


def test_query_models_become_parameters_and_paths_lose_their_patterns() -> None:
    spec = openapi_document([TABLE], title="t", version="1")
    operation = spec["paths"]["/shifts/{day}/{shift_id}"]["get"]
    parameters = {(p["in"], p["name"]): p for p in operation["parameters"]}
    assert parameters[("query", "day")]["required"] is True
    assert parameters[("query", "day")]["description"] == "which day"
    # An absent parameter is the None: a query string has no null.
    assert parameters[("query", "late")]["schema"]["type"] == "boolean"
    assert parameters[("query", "late")]["required"] is False
    assert parameters[("path", "shift_id")]["required"] is True
    assert sorted(operation["responses"]) == ["200", "400", "401", "503"]
    assert "ShiftQuery" not in spec["components"]["schemas"]


def test_request_texts_document_the_characters_they_refuse() -> None:
    title = ShiftBody.model_json_schema()["properties"]["title"]
    assert title["pattern"].startswith("^[^\\u0000-\\u001f")  # control characters
    assert "\\u200b" in title["pattern"]  # format characters such as zero-width space


@pytest.mark.parametrize(
    ("routes", "error"),
    [
        ((Route("GET", "/x", handler, "x", Reply(200, "ok"), errors=(Unlisted,)),), "Unlisted"),
        (
            (
                Route("GET", "/x", handler, "x", Reply(200, "ok")),
                Route("GET", "/x", handler, "y", Reply(200, "ok")),
            ),
            "declared twice",
        ),
        (
            (Route("GET", "/x", handler, "x", Reply(200, "ok", links=(Link("z", {}),))),),
            "links to z",
        ),
    ],
)
def test_a_declaration_the_document_cannot_hold_fails_when_it_is_built(
    routes: tuple[Route, ...], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        document(*routes)


def test_the_gateway_document_leaves_internal_routes_out_and_adds_every_route_problems() -> None:
    internal = Route("GET", "/v1/x", handler, "x", Reply(200, "ok"), internal=True)
    spec = document(SHIFT, internal, public_only=True, every_route={502: "down"})
    assert list(spec["paths"]) == ["/shifts/{day}/{shift_id}"]
    assert "502" in spec["paths"]["/shifts/{day}/{shift_id}"]["get"]["responses"]


def test_problem_entries_render_their_status_detail_errors_and_headers() -> None:
    busy = PROBLEMS[Busy](Busy())
    assert (busy.status, busy.detail, busy.headers) == (503, "busy", {"Retry-After": "1"})
    full = PROBLEMS[ShiftFull](ShiftFull("shift 7 is full"))
    assert (full.status, full.detail) == (409, "shift 7 is full")
    invalid: Problem = ProblemOf(400, errors=lambda e: [{"field": "x", "message": str(e)}])(
        ValueError("bad")
    )
    assert invalid.errors == [{"field": "x", "message": "bad"}]
    with pytest.raises(ValueError, match="400"):
        ProblemOf(409, errors=lambda _: [])


async def test_a_service_serves_its_document_built_once_when_it_starts(aiohttp_client: Any) -> None:
    app = create_service_app(ServiceSettings(), service="test")
    add_routes(app, TABLE)
    client = await aiohttp_client(app)
    built = app[OPENAPI_JSON]
    spec = await (await client.get("/openapi.json")).json()
    validate(spec)
    assert {"/shifts/{day}", "/health/ready", "/openapi.json"} <= spec["paths"].keys()
    assert app[OPENAPI_JSON] is built


async def test_every_route_but_the_probes_documents_the_in_flight_503(aiohttp_client: Any) -> None:
    app = create_service_app(ServiceSettings(), service="test")
    add_routes(app, TABLE)
    client = await aiohttp_client(app)
    spec = await (await client.get("/openapi.json")).json()

    for path, operations in spec["paths"].items():
        for operation in operations.values():
            shed = "MAX_IN_FLIGHT" in operation["responses"].get("503", {}).get("description", "")
            assert shed == (not path.startswith(("/health/", "/metrics"))), path
