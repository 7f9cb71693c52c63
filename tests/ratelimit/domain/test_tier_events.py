"""ratelimit's event payload speaks the domain's values."""

from __future__ import annotations

from event_samples import literal_values

from nocturnal.shared.event_payloads import TierChangedData
from nocturnal.shared.ratelimit.policies import Tier


def test_the_tiers_of_tier_changed_are_the_domain_tiers() -> None:
    assert literal_values(TierChangedData, "tier") == {tier.value for tier in Tier}
