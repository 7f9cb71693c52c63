"""The policy table: the shared default policies, replaced or extended by configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Policy

MAX_WINDOW_S = 7 * 24 * 60 * 60
# The Redis log keeps one member per unit, so the limit bounds the memory of one counter.
MAX_LIMIT = 10_000

PolicyName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class PolicyLimits(BaseModel):
    """A configured policy: at most `normal` (or `strict`) units in any `window_s` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: int = Field(ge=1, le=MAX_WINDOW_S)
    normal: int = Field(ge=1, le=MAX_LIMIT)
    strict: int = Field(ge=1, le=MAX_LIMIT)

    @model_validator(mode="after")
    def _strict_is_not_looser(self) -> PolicyLimits:
        if self.strict > self.normal:
            raise ValueError("strict must not be above normal")
        return self


def policy_table(overrides: Mapping[str, PolicyLimits]) -> dict[str, Policy]:
    """`DEFAULT_POLICIES` with `overrides` replacing or adding policies by name."""
    table = dict(DEFAULT_POLICIES)
    for name, limits in overrides.items():
        table[name] = Policy(
            name, window_s=limits.window_s, normal=limits.normal, strict=limits.strict
        )
    return table
