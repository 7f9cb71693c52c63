"""ratelimit settings, read from the environment (variable = upper-case field name)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from nocturnal.ratelimit.domain.policies import PolicyLimits, PolicyName, policy_table
from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.ratelimit.policies import Policy


class RatelimitSettings(ServiceSettings):
    """Redis, the policy table and the degraded-mode knobs.

    `RATELIMIT_POLICIES` is a JSON object `{name: {window_s, normal, strict}}` replacing or
    adding policies of the shared defaults (auth, api, upload). `RATELIMIT_PEERS_DNS` names all
    ratelimit instances (e.g. a headless Service); unset means one instance.
    """

    redis_url: str = "redis://redis:6379/0"
    redis_timeout_s: float = Field(default=0.1, gt=0, le=5)
    redis_max_connections: int = Field(default=32, ge=1, le=1000)
    ratelimit_policies: Annotated[dict[PolicyName, PolicyLimits], NoDecode] = Field(
        default_factory=dict
    )
    ratelimit_peers_dns: str | None = None
    ratelimit_peers_refresh_s: float = Field(default=15.0, gt=0, le=3600)

    @field_validator("ratelimit_policies", mode="before")
    @classmethod
    def _parse_policies(cls, value: Any) -> Any:
        # Decoded here rather than by the settings source, so malformed JSON is a clear
        # configuration error like any other instead of a traceback.
        return json.loads(value) if isinstance(value, str) else value

    @property
    def policies(self) -> dict[str, Policy]:
        """The effective policy table by name."""
        return policy_table(self.ratelimit_policies)
