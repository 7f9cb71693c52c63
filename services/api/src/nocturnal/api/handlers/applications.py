"""HTTP handlers of applications: apply, the poster's and the applicant's views, decisions."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import ConfigDict, StringConstraints

from nocturnal.api.domain.applications import (
    APPLICANT_ROLES,
    MAX_COVER_LETTER_CHARS,
    Application,
)
from nocturnal.api.domain.duties import POSTER_ROLE
from nocturnal.api.keys import MARKETPLACE
from nocturnal.shared.auth.requests import authenticate, require_role
from nocturnal.shared.http.app import SETTINGS, json_response
from nocturnal.shared.http.pagination import page_request, render_page
from nocturnal.shared.http.request import MULTI_LINE, RequestModel, read_json


class ApplicationBody(RequestModel):
    """POST /api/duties/{id}/applications: a cover letter (may be empty)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"cover_letter": "Five years of ICU nights."}]}
    )

    cover_letter: Annotated[
        str, StringConstraints(max_length=MAX_COVER_LETTER_CHARS), MULTI_LINE
    ] = ""


async def apply(request: web.Request) -> web.Response:
    """Apply to an OPEN duty (doctors and nurses); 201 with the PENDING application."""
    principal = await require_role(request, *APPLICANT_ROLES)
    body = await read_json(
        request, ApplicationBody, max_bytes=request.app[SETTINGS].max_json_body_bytes
    )
    application = await request.app[MARKETPLACE].apply(
        request.match_info["duty_id"], principal.user_id, body.cover_letter
    )
    return json_response(application.to_json(), status=201)


async def list_for_duty(request: web.Request) -> web.Response:
    """The applications to a duty, oldest first (its posting admin's view)."""
    principal = await require_role(request, POSTER_ROLE)
    paging = page_request(request)
    applications = await request.app[MARKETPLACE].applications_for_duty(
        request.match_info["duty_id"], principal.user_id, paging
    )
    return json_response(render_page(applications, Application.to_json))


async def list_mine(request: web.Request) -> web.Response:
    """The caller's applications, newest first."""
    principal = await authenticate(request)
    paging = page_request(request)
    applications = await request.app[MARKETPLACE].applications_of(principal.user_id, paging)
    return json_response(render_page(applications, Application.to_json))


async def accept(request: web.Request) -> web.Response:
    """Accept a PENDING application (the duty's posting admin); never past its positions."""
    principal = await require_role(request, POSTER_ROLE)
    application = await request.app[MARKETPLACE].accept(
        request.match_info["application_id"], principal.user_id
    )
    return json_response(application.to_json())


async def reject(request: web.Request) -> web.Response:
    """Reject a PENDING application (the duty's posting admin)."""
    principal = await require_role(request, POSTER_ROLE)
    application = await request.app[MARKETPLACE].reject(
        request.match_info["application_id"], principal.user_id
    )
    return json_response(application.to_json())


async def withdraw(request: web.Request) -> web.Response:
    """Withdraw one's PENDING or ACCEPTED application; an accepted one frees its position."""
    principal = await authenticate(request)
    application = await request.app[MARKETPLACE].withdraw(
        request.match_info["application_id"], principal.user_id
    )
    return json_response(application.to_json())
