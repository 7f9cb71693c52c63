"""Access-token claims and refresh-token families."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nocturnal.auth.domain.tokens import (
    RefreshState,
    RefreshToken,
    access_token_claims,
    refresh_token_id,
)
from nocturnal.shared.auth.claims import ACCESS_TOKEN_TTL_S, AUDIENCE, ISSUER, REQUIRED_CLAIMS

NOW = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def test_access_token_claims_are_exactly_what_the_verifier_requires() -> None:
    claims = access_token_claims("user-1", "nurse", NOW, "token-1")
    assert sorted(claims) == sorted(REQUIRED_CLAIMS)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["iat"] == claims["nbf"] == int(NOW.timestamp())
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_TTL_S
    assert (claims["sub"], claims["role"], claims["jti"]) == ("user-1", "nurse", "token-1")


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
