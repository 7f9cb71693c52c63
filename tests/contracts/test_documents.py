"""The OpenAPI documents: valid OpenAPI 3.1, served by each service as generated, and the
gateway's checked-in docs/openapi.json current."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import TypeAdapter

from nocturnal.api.domain.applications import ApplicationView
from nocturnal.api.domain.duties import DutyView
from nocturnal.api.routes import ROUTES as API_ROUTES
from nocturnal.auth.routes import ROUTES as AUTH_ROUTES
from nocturnal.ratelimit.routes import ROUTES as RATELIMIT_ROUTES
from nocturnal.shared.event_payloads import ApplicationData, DutyData
from nocturnal.shared.http.app import BASE_ROUTES
from nocturnal.shared.http.openapi import openapi_document
from nocturnal.shared.http.routes import RouteTable
from nocturnal.upload.routes import ROUTES as UPLOAD_ROUTES
from tools.openapi import DOCUMENT_PATH, gateway_document, render

from .platform import Platform

TABLES = {
    table.service: table for table in (AUTH_ROUTES, API_ROUTES, UPLOAD_ROUTES, RATELIMIT_ROUTES)
}


def served(platform: Platform, service: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{platform.urls[service]}/openapi.json", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("application/json")
        document: dict[str, Any] = json.load(answer)
        return document


def generated(table: RouteTable) -> dict[str, Any]:
    return openapi_document([BASE_ROUTES, table], title=table.service, version="test")


@pytest.mark.parametrize("service", sorted(TABLES))
def test_each_service_serves_a_valid_document_of_all_its_routes(
    platform: Platform, service: str
) -> None:
    document = served(platform, service)
    validate(document)
    expected = generated(TABLES[service])
    assert (document["paths"], document["components"]) == (
        expected["paths"],
        expected["components"],
    )
    assert document["info"]["title"] == f"nocturnal {service}"


def test_the_gateway_document_in_the_repository_is_current_and_valid() -> None:
    current = render(gateway_document())
    assert DOCUMENT_PATH.read_text() == current, "docs/openapi.json is stale: run `make openapi`"
    validate(json.loads(current))


def test_the_gateway_document_holds_every_public_route_and_no_internal_one() -> None:
    operations = {
        operation["operationId"]
        for path in gateway_document()["paths"].values()
        for operation in path.values()
    }
    public = {
        route.name
        for table in (AUTH_ROUTES, API_ROUTES, UPLOAD_ROUTES)
        for route in table.routes
        if not route.internal
    }
    assert operations == public
    assert {"revocations", "create-signed-url", "check", "health-ready"}.isdisjoint(operations)


@pytest.mark.parametrize("table", [*TABLES.values()], ids=sorted(TABLES))
def test_every_example_in_a_document_is_valid_by_its_own_schema(table: RouteTable) -> None:
    document = generated(table)
    components = document["components"]
    examples = [
        (name, schema, example)
        for name, schema in components["schemas"].items()
        for example in schema.get("examples", ())
    ]
    for name, schema, example in examples:
        # The components beside the schema: its $refs resolve as they do in the document.
        validator = Draft202012Validator({**schema, "components": components})
        errors = [error.message for error in validator.iter_errors(example)]
        assert errors == [], f"{table.service}: an example of {name}: {errors}"
    assert examples


@pytest.mark.parametrize(
    ("view", "event", "event_only"),
    [(DutyView, DutyData, set()), (ApplicationView, ApplicationData, {"duty_title", "posted_by"})],
)
def test_the_api_shows_duties_and_applications_as_their_events_carry_them(
    view: Any, event: Any, event_only: set[str]
) -> None:
    # Two contracts of one object (DESIGN §3: "the duty as the API shows it"): the HTTP shape
    # renders the response, the event model checks each published payload; they must agree.
    shown = TypeAdapter(view).json_schema(mode="serialization")
    carried = event.model_json_schema(mode="serialization")
    assert set(carried["properties"]) - set(shown["properties"]) == event_only
    assert set(shown["properties"]) <= set(carried["properties"])
    assert set(shown["required"]) == set(carried["required"]) - event_only
