"""HTTP handlers of duties: post, list, read, revise, cancel."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from aiohttp import web
from pydantic import ConfigDict, Field, StringConstraints, model_validator

from nocturnal.api.domain.duties import (
    MAX_POSITIONS,
    POSTER_ROLE,
    Duty,
    DutyDetails,
    DutyQuery,
    DutyStatus,
    Requirements,
    Urgency,
)
from nocturnal.api.domain.profiles import MAX_EXPERIENCE_YEARS, MAX_SKILLS
from nocturnal.api.handlers.fields import Amount, ClockTime, IsoDate, Label, Skill
from nocturnal.api.keys import MARKETPLACE
from nocturnal.shared.auth.requests import authenticate, require_role
from nocturnal.shared.http.app import SETTINGS, json_response
from nocturnal.shared.http.pagination import PageQuery, page_of, render_page
from nocturnal.shared.http.request import (
    MULTI_LINE,
    RequestModel,
    parse_query,
    read_json,
    schema_extra,
)

Specialty = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=5000), MULTI_LINE]
Positions = Annotated[int, Field(ge=1, le=MAX_POSITIONS)]


class RequirementsBody(RequestModel):
    """`requirements` of a duty."""

    minimum_experience: Annotated[int, Field(ge=0, le=MAX_EXPERIENCE_YEARS)] = 0
    required_skills: Annotated[list[Skill], Field(max_length=MAX_SKILLS)] = []

    def to_domain(self) -> Requirements:
        return Requirements(self.minimum_experience, tuple(self.required_skills))


class DutyBody(RequestModel):
    """POST /api/duties: a new duty; times are the hospital's wall clock, and an `end_time`
    before `start_time` means the shift ends the next morning."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Night cover, ICU",
                    "hospital_name": "St Mary's General Hospital",
                    "department": "Intensive Care Unit",
                    "specialty": "Critical Care",
                    "description": "Handover at 21:45.",
                    "date": "2031-12-24",
                    "start_time": "22:00",
                    "end_time": "06:00",
                    "hourly_rate": 95.5,
                    "positions_needed": 2,
                    "urgency": "URGENT",
                    "location": "London",
                    "requirements": {
                        "minimum_experience": 3,
                        "required_skills": ["ventilator management"],
                    },
                }
            ]
        }
    )

    title: Label
    hospital_name: Label
    department: Label
    specialty: Specialty
    description: Description = ""
    date: IsoDate
    start_time: ClockTime
    end_time: ClockTime
    hourly_rate: Amount
    positions_needed: Positions
    urgency: Urgency = Urgency.NORMAL
    location: Label
    requirements: RequirementsBody = RequirementsBody()

    def to_domain(self) -> DutyDetails:
        return DutyDetails(
            **self.model_dump(exclude={"requirements"}),
            requirements=self.requirements.to_domain(),
        )


class DutyPatch(RequestModel):
    """PATCH /api/duties/{id}: any subset of the posting fields (none may be null)."""

    model_config = ConfigDict(
        json_schema_extra=schema_extra(
            examples=[{"hourly_rate": 110, "urgency": "EMERGENCY"}],
            never_null=DutyBody.model_fields,
        )
    )

    title: Label | None = None
    hospital_name: Label | None = None
    department: Label | None = None
    specialty: Specialty | None = None
    description: Description | None = None
    date: IsoDate | None = None
    start_time: ClockTime | None = None
    end_time: ClockTime | None = None
    hourly_rate: Amount | None = None
    positions_needed: Positions | None = None
    urgency: Urgency | None = None
    location: Label | None = None
    requirements: RequirementsBody | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> DutyPatch:
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        return self

    def apply(self, details: DutyDetails) -> DutyDetails:
        changes: dict[str, Any] = {
            name: getattr(self, name) for name in self.model_fields_set - {"requirements"}
        }
        if self.requirements is not None:
            changes["requirements"] = self.requirements.to_domain()
        return dataclasses.replace(details, **changes)


class DutyListQuery(PageQuery):
    """GET /api/duties query string: the filters (text filters match case-insensitively) and
    the page."""

    specialty: Specialty | None = None
    status: DutyStatus | None = None
    urgency: Urgency | None = None
    location: Label | None = None
    date_from: IsoDate | None = None
    date_to: IsoDate | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> DutyListQuery:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from must not be after date_to")
        return self

    def to_query(self) -> DutyQuery:
        return DutyQuery(**self.model_dump(exclude={"limit", "cursor"}))


async def post_duty(request: web.Request) -> web.Response:
    """Post a duty (hospital admins); 201 with its pay computed."""
    principal = await require_role(request, POSTER_ROLE)
    body = await read_json(request, DutyBody, max_bytes=request.app[SETTINGS].max_json_body_bytes)
    duty = await request.app[MARKETPLACE].post_duty(body.to_domain(), posted_by=principal.user_id)
    return json_response(duty.to_json(), status=201)


async def list_duties(request: web.Request) -> web.Response:
    """Duties matching the filters, soonest first, in cursor pages."""
    await authenticate(request)
    query = parse_query(request, DutyListQuery)
    duties = await request.app[MARKETPLACE].list_duties(query.to_query(), page_of(query))
    return json_response(render_page(duties, Duty.to_json))


async def get_duty(request: web.Request) -> web.Response:
    """One duty."""
    await authenticate(request)
    duty = await request.app[MARKETPLACE].duty(request.match_info["duty_id"])
    return json_response(duty.to_json())


async def patch_duty(request: web.Request) -> web.Response:
    """Revise a duty (its posting admin, while it is OPEN); the pay is recomputed."""
    principal = await require_role(request, POSTER_ROLE)
    patch = await read_json(request, DutyPatch, max_bytes=request.app[SETTINGS].max_json_body_bytes)
    duty = await request.app[MARKETPLACE].revise_duty(
        request.match_info["duty_id"], principal.user_id, patch.apply
    )
    return json_response(duty.to_json())


async def cancel_duty(request: web.Request) -> web.Response:
    """Cancel a duty (its posting admin); its applicants are notified."""
    principal = await require_role(request, POSTER_ROLE)
    duty = await request.app[MARKETPLACE].cancel_duty(
        request.match_info["duty_id"], principal.user_id
    )
    return json_response(duty.to_json())
