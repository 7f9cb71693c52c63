"""Every service fuzzed from its own OpenAPI document (schemathesis): valid and invalid input for
every operation, with a valid token of an allowed role. No answer may be a 5xx, an undocumented
status, or a body, content type or header field the document does not describe; invalid input
must be refused with a 4xx.

Bounded for `make test` (FUZZ_EXAMPLES per operation, derandomized: the same cases every run);
`make fuzz` runs many more, with a fresh seed.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from nocturnal.api.routes import ROUTES as API_ROUTES
from nocturnal.auth.routes import ROUTES as AUTH_ROUTES
from nocturnal.ratelimit.routes import ROUTES as RATELIMIT_ROUTES
from nocturnal.shared.http.app import BASE_ROUTES
from nocturnal.shared.http.openapi import openapi_document
from nocturnal.shared.http.routes import Route, RouteTable
from nocturnal.upload.routes import ROUTES as UPLOAD_ROUTES

from .platform import Platform

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "15"))
STEPS = int(os.environ.get("FUZZ_STEPS", "6"))
SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
DERANDOMIZE = "FUZZ_SEED" not in os.environ
COVERAGE = os.environ.get("FUZZ_COVERAGE", "0") == "1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
]
# After a delete, the resource is gone (404) and stays gone; after a create, it can be read.
STATEFUL_CHECKS = [*CHECKS, use_after_free, ensure_resource_availability]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=DERANDOMIZE,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
WORKFLOW_SETTINGS = settings(FUZZ_SETTINGS, max_examples=SCENARIOS, stateful_step_count=STEPS)


def routes_by_name(*tables: RouteTable) -> dict[str, Route]:
    """Every route of `tables` by operationId (its name)."""
    return {route.name: route for table in tables for route in table.routes}


ROUTES = routes_by_name(API_ROUTES, UPLOAD_ROUTES)


def credentials(platform: Platform, service: str, case: Any) -> dict[str, str]:
    """The Authorization header of a member allowed to call the case's operation."""
    route = ROUTES.get(case.operation.definition.raw.get("operationId", ""))
    if service == "auth":
        return {"Authorization": f"Bearer {platform.auth_token()}"}
    if route is None or route.bearer is None:
        return {}
    role = route.bearer.roles[0] if route.bearer.roles else "doctor"
    return {"Authorization": f"Bearer {platform.token(role)}"}


def document_of(table: RouteTable) -> Any:
    """The service's document (the one it serves: test_documents proves it), for schemathesis."""
    document = openapi_document([BASE_ROUTES, table], title=table.service, version="test")
    schema = schemathesis.openapi.from_dict(document)
    schema.config.seed = SEED
    schema.config.phases.coverage.enabled = COVERAGE
    return schema


def bookable(duty: dict[str, Any]) -> dict[str, Any]:
    """A generated duty posting as the domain's rules take it, which a schema cannot say: not
    dated in the past, a rate in whole cents, a shift that ends when it does not start."""
    duty = dict(duty)
    if str(duty.get("date", "")) < date.today().isoformat():
        duty["date"] = (date.today() + timedelta(days=30)).isoformat()
    rate = duty.get("hourly_rate")
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        duty["hourly_rate"] = max(0.01, round(rate, 2))
    if duty.get("start_time") == duty.get("end_time") == "06:00":
        duty["end_time"] = "07:00"
    elif duty.get("start_time") == duty.get("end_time"):
        duty["end_time"] = "06:00"
    return duty


def call(platform: Platform, service: str, case: Any) -> None:
    """Send `case` to `service` as a member allowed to; check the answer against the document."""
    headers = credentials(platform, service, case)
    case.call_and_validate(base_url=platform.urls[service], headers=headers, checks=CHECKS)


def with_bookable_duties(schema: Any) -> Any:
    """`schema` whose valid postings of duties are valid to the domain too (`bookable`)."""

    @schema.hook
    def map_case(_: Any, case: Any) -> Any:
        positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
        if (case.method, case.path) == ("POST", "/api/duties") and positive:
            case.body = bookable(case.body) if isinstance(case.body, dict) else case.body
        return case

    return schema


def workflow_of(table: RouteTable, *operations: str) -> Any:
    """The document restricted to `operations`, generating valid input only: the first
    operation (no link leads to it) starts every scenario, the links lead through the rest."""
    schema = document_of(table).include(operation_id=list(operations))
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    return with_bookable_duties(schema)


auth = document_of(AUTH_ROUTES)
api = with_bookable_duties(document_of(API_ROUTES))

upload = document_of(UPLOAD_ROUTES)
ratelimit = document_of(RATELIMIT_ROUTES)


@auth.parametrize()
@FUZZ_SETTINGS
def test_auth_answers_as_its_document_says(case: Any, platform: Platform) -> None:
    call(platform, "auth", case)


@api.parametrize()
@FUZZ_SETTINGS
def test_the_api_answers_as_its_document_says(case: Any, platform: Platform) -> None:
    call(platform, "api", case)


@upload.parametrize()
@FUZZ_SETTINGS
def test_upload_answers_as_its_document_says(case: Any, platform: Platform) -> None:
    call(platform, "upload", case)


@ratelimit.parametrize()
@FUZZ_SETTINGS
def test_ratelimit_answers_as_its_document_says(case: Any, platform: Platform) -> None:
    call(platform, "ratelimit", case)


def workflows(schema: Any, platform: Platform, service: str) -> Any:
    """A state machine of `service`'s operations chained by the document's links (post a duty,
    then apply to it, then accept; upload a file, then read it, sign its URL, delete it), each
    step sent by a member allowed to and checked like the single calls, and for resources that
    must (still, or no longer) exist."""

    class Workflows(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "base_url": platform.urls[service],
                "headers": credentials(platform, service, case),
            }

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                checks=STATEFUL_CHECKS,
                headers=kwargs.get("headers"),
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    return Workflows


DUTY_WORKFLOW = workflow_of(
    API_ROUTES,
    "post-duty",
    "duty",
    "edit-duty",
    "cancel-duty",
    "apply",
    "duty-applications",
    "accept",
    "reject",
    "withdraw",
)
FILE_WORKFLOW = workflow_of(
    UPLOAD_ROUTES, "create-upload", "get-upload", "get-upload-url", "delete-upload"
)


def test_duties_go_from_posted_to_applied_to_accepted_as_documented(platform: Platform) -> None:
    workflows(DUTY_WORKFLOW, platform, "api").run(settings=WORKFLOW_SETTINGS)


def test_files_go_from_uploaded_to_read_to_signed_to_deleted_as_documented(
    platform: Platform,
) -> None:
    workflows(FILE_WORKFLOW, platform, "upload").run(settings=WORKFLOW_SETTINGS)
