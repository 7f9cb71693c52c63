"""ratelimit settings, read from the environment (variable = upper-case field name)."""

from __future__ import annotations

from pydantic import Field

from nocturnal.shared.config import RatelimitPolicies, ServiceSettings
from nocturnal.shared.ratelimit.policies import Policy, policy_table


class RatelimitSettings(ServiceSettings):
    """Redis, the policy table and the degraded-mode knobs.

    `RATELIMIT_POLICIES` is a JSON object `{name: {window_s, normal, strict}}` replacing or
    adding policies of the shared defaults (auth, api, upload). `RATELIMIT_PEERS_DNS` names all
    ratelimit instances (e.g. a headless Service); unset means `INSTANCES` (default 1, set by
    a local process manager).
    """

    redis_url: str = "redis://redis:6379/0"
    redis_timeout_s: float = Field(default=0.1, gt=0, le=5)
    redis_max_connections: int = Field(default=32, ge=1, le=1000)
    ratelimit_policies: RatelimitPolicies = Field(default_factory=dict)
    ratelimit_peers_dns: str | None = None
    ratelimit_peers_refresh_s: float = Field(default=15.0, gt=0, le=3600)
    instances: int = Field(default=1, ge=1, le=1000)

    @property
    def policies(self) -> dict[str, Policy]:
        """The effective policy table by name."""
        return policy_table(self.ratelimit_policies)
