"""api settings: shared service settings, MongoDB and peer addresses, read from the environment."""

from __future__ import annotations

from pydantic import Field

from nocturnal.shared.config import MongoSettings, PeerSettings, ServiceSettings


class ApiSettings(ServiceSettings, MongoSettings, PeerSettings):
    """Settings of the api service. Environment variable = upper-case field name.

    `PHOTO_URL_TTL_S` is how long the signed `photo_url` of a profile stays valid (seconds).
    """

    mongo_database: str = Field(default="nocturnal_api", min_length=1)
    photo_url_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
