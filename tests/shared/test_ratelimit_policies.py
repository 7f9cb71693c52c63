"""The policy table: shared defaults, replaced or extended by configuration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Policy, PolicyLimits, policy_table


def test_without_configuration_the_table_is_the_shared_defaults() -> None:
    assert policy_table({}) == dict(DEFAULT_POLICIES)
    assert policy_table({})["auth"] == Policy("auth", window_s=900, normal=5, strict=3)


def test_configured_policies_replace_defaults_by_name_and_add_new_ones() -> None:
    table = policy_table(
        {
            "api": PolicyLimits(window_s=60, normal=1000, strict=100),
            "search": PolicyLimits(window_s=1, normal=20, strict=5),
        }
    )
    assert table["api"] == Policy("api", window_s=60, normal=1000, strict=100)
    assert table["search"] == Policy("search", window_s=1, normal=20, strict=5)
    assert table["auth"] == DEFAULT_POLICIES["auth"]


@pytest.mark.parametrize(
    "limits",
    [
        {"window_s": 60, "normal": 5, "strict": 6},
        {"window_s": 0, "normal": 5, "strict": 3},
        {"window_s": 60, "normal": 0, "strict": 0},
        {"window_s": 60, "normal": 10_001, "strict": 3},
        {"window_s": 8 * 24 * 3600, "normal": 5, "strict": 3},
        {"window_s": 60, "normal": 5},
        {"window_s": 60, "normal": 5, "strict": 3, "burst": 9},
    ],
)
def test_a_policy_must_be_bounded_and_strict_no_looser_than_normal(limits: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        PolicyLimits.model_validate(limits)
