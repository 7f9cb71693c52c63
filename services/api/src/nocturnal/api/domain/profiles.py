"""Profiles of registered users: made from `user.registered`, edited by their owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

MAX_NAME_CHARS = 100
MAX_SPECIALTY_CHARS = 100
MAX_LOCATION_CHARS = 200
MAX_BIO_CHARS = 2000
MAX_SKILLS = 50
MAX_SKILL_CHARS = 60
MAX_EXPERIENCE_YEARS = 70
PROFILE_PHOTO_KIND = "profile-photo"


class ProfileView(TypedDict):
    """A user's public profile; `photo_url` is a signed URL of the profile photo (it expires)."""

    user_id: str
    name: str
    role: Annotated[str, Field(description="doctor, nurse or hospital_admin")]
    specialty: str | None
    years_experience: Annotated[int, Field(ge=0, le=MAX_EXPERIENCE_YEARS)] | None
    skills: list[str]
    bio: str | None
    location: str | None
    photo_url: str | None


@dataclass(frozen=True)
class Profile:
    """A user's profile; `photo_file_id` is the upload service's file of the profile photo."""

    user_id: str
    name: str
    role: str
    specialty: str | None = None
    years_experience: int | None = None
    skills: tuple[str, ...] = ()
    bio: str | None = None
    location: str | None = None
    photo_file_id: str | None = None

    def to_json(self, photo_url: str | None) -> ProfileView:
        """The public profile; `photo_url` is a signed URL of the photo, or None."""
        return {
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role,
            "specialty": self.specialty,
            "years_experience": self.years_experience,
            "skills": list(self.skills),
            "bio": self.bio,
            "location": self.location,
            "photo_url": photo_url,
        }
