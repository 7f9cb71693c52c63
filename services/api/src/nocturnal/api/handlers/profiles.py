"""HTTP handlers of profiles: one's own (read, edit) and anyone's public profile."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import ConfigDict, Field, StringConstraints, model_validator

from nocturnal.api.domain.profiles import (
    MAX_BIO_CHARS,
    MAX_EXPERIENCE_YEARS,
    MAX_LOCATION_CHARS,
    MAX_NAME_CHARS,
    MAX_SKILLS,
    MAX_SPECIALTY_CHARS,
    Profile,
)
from nocturnal.api.handlers.fields import Skill
from nocturnal.api.keys import PROFILES
from nocturnal.shared.auth.requests import authenticate
from nocturnal.shared.http.app import SETTINGS, json_response
from nocturnal.shared.http.request import MULTI_LINE, RequestModel, read_json, schema_extra

# Fields that may be absent from a PATCH but not set to null.
REQUIRED_FIELDS = frozenset({"name", "skills"})


def _text(max_length: int) -> Any:
    return StringConstraints(min_length=1, max_length=max_length)


class ProfilePatch(RequestModel):
    """PATCH /api/profiles/me: any subset; null clears an optional field."""

    model_config = ConfigDict(
        json_schema_extra=schema_extra(
            examples=[
                {
                    "specialty": "Critical Care",
                    "years_experience": 6,
                    "skills": ["ventilator management", "ALS"],
                    "location": "London",
                }
            ],
            never_null=REQUIRED_FIELDS,
        )
    )

    name: Annotated[str, _text(MAX_NAME_CHARS)] | None = None
    specialty: Annotated[str, _text(MAX_SPECIALTY_CHARS)] | None = None
    years_experience: Annotated[int, Field(ge=0, le=MAX_EXPERIENCE_YEARS)] | None = None
    skills: Annotated[list[Skill], Field(max_length=MAX_SKILLS)] | None = None
    bio: Annotated[str, StringConstraints(max_length=MAX_BIO_CHARS), MULTI_LINE] | None = None
    location: Annotated[str, _text(MAX_LOCATION_CHARS)] | None = None

    @model_validator(mode="after")
    def _required_not_null(self) -> ProfilePatch:
        nulls = [
            name for name in REQUIRED_FIELDS & self.model_fields_set if getattr(self, name) is None
        ]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, with their new values."""
        return self.model_dump(include=self.model_fields_set)


def _render(shown: tuple[Profile, str | None]) -> web.Response:
    profile, photo_url = shown
    return json_response(profile.to_json(photo_url))


async def get_me(request: web.Request) -> web.Response:
    """The caller's profile."""
    principal = await authenticate(request)
    return _render(await request.app[PROFILES].profile(principal.user_id))


async def patch_me(request: web.Request) -> web.Response:
    """Change some of one's profile fields (null clears an optional one)."""
    principal = await authenticate(request)
    patch = await read_json(
        request, ProfilePatch, max_bytes=request.app[SETTINGS].max_json_body_bytes
    )
    return _render(await request.app[PROFILES].edit(principal.user_id, patch.changes()))


async def get_profile(request: web.Request) -> web.Response:
    """Anyone's public profile."""
    await authenticate(request)
    return _render(await request.app[PROFILES].profile(request.match_info["user_id"]))
