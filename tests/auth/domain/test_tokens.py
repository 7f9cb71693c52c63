"""Access-token claims and refresh-token families."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nocturnal.auth.domain.tokens import (
    RefreshState,
    RefreshToken,
    access_token_claims,
    issued_at,
    refresh_token_id,
    revocation_epoch,
)
from nocturnal.shared.auth.claims import (
    ACCESS_TOKEN_TTL_S,
    AUDIENCE,
    AUTH_CLOCK_SKEW_S,
    ISSUER,
    MAX_EARLY_IAT_S,
    MIN_LEEWAY_S,
    REQUIRED_CLAIMS,
)

NOW = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def test_access_token_claims_are_exactly_what_the_verifier_requires() -> None:
    claims = access_token_claims("user-1", "nurse", int(NOW.timestamp()), "token-1")
    assert sorted(claims) == sorted(REQUIRED_CLAIMS)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["iat"] == claims["nbf"] == int(NOW.timestamp())
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_TTL_S
    assert (claims["sub"], claims["role"], claims["jti"]) == ("user-1", "nurse", "token-1")


@pytest.mark.parametrize("fraction", [0.0, 0.000001, 0.5, 0.999999])
def test_a_revocation_epoch_is_later_than_every_token_granted_up_to_it(fraction: float) -> None:
    revoked_at = NOW + timedelta(seconds=fraction)
    epoch = revocation_epoch(revoked_at, 0)
    # A token granted at the very instant of the revocation, on a clock up to the allowed skew
    # ahead, is dated before the epoch: whole seconds no longer let it through.
    latest_grant = revoked_at + timedelta(seconds=AUTH_CLOCK_SKEW_S)
    assert issued_at(latest_grant - timedelta(microseconds=1), 0) < epoch
    assert issued_at(revoked_at, 0) < epoch
    # A token granted afterwards is dated at the epoch, and that is not too far ahead.
    assert issued_at(revoked_at, epoch) == epoch
    assert 0 < epoch - revoked_at.timestamp() <= MAX_EARLY_IAT_S < MIN_LEEWAY_S


def test_a_second_revocation_in_the_same_second_still_moves_the_epoch_on() -> None:
    first = revocation_epoch(NOW, 0)
    second = revocation_epoch(NOW + timedelta(milliseconds=300), first)
    assert second == first + 1
    assert issued_at(NOW + timedelta(milliseconds=100), first) < second
    assert second - NOW.timestamp() <= MAX_EARLY_IAT_S
    assert revocation_epoch(NOW + timedelta(seconds=10), second) == int(NOW.timestamp()) + 12


def test_a_refresh_token_is_stored_by_hash_only() -> None:
    value, record = RefreshToken.issue("user-1", family_id="f1", now=NOW, ttl_s=3600)
    assert len(value) >= 43
    assert record.id == refresh_token_id(value) != value
    assert record.expires_at == NOW + timedelta(hours=1)


def test_a_successor_stays_in_the_family_with_a_new_value() -> None:
    value, record = RefreshToken.issue("user-1", family_id="f1", now=NOW, ttl_s=3600)
    next_value, successor = record.successor(now=NOW, ttl_s=3600)
    assert successor.family_id == record.family_id == "f1"
    assert next_value != value
    assert successor.id == refresh_token_id(next_value) != record.id


def test_state_revoked_beats_used_beats_expired() -> None:
    _, record = RefreshToken.issue("user-1", family_id="f1", now=NOW, ttl_s=60)
    later = NOW + timedelta(minutes=5)
    assert record.state(NOW) is RefreshState.ACTIVE
    assert record.state(later) is RefreshState.EXPIRED
    used = RefreshToken(**{**record.__dict__, "used_at": NOW})
    assert used.state(later) is RefreshState.USED
    revoked = RefreshToken(**{**used.__dict__, "revoked_at": NOW})
    assert revoked.state(NOW) is RefreshState.REVOKED
