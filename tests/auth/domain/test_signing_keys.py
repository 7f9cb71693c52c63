"""Ed25519 signing keys: signing, the JWK form, rotation windows, sealing at rest."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from nocturnal.auth.domain.signing_keys import KeySealer, KeySealingError, SigningKey
from nocturnal.shared.auth.claims import ACCESS_TOKEN_TTL_S, MAX_LEEWAY_S

NOW = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def test_tokens_carry_the_kid_and_type_and_verify_with_the_published_jwk() -> None:
    key = SigningKey.generate("k1", 1, now=NOW, lifetime_s=3600)
    token = key.sign({"sub": "user-1"})
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}
    public = jwt.PyJWK(key.public().jwk()).key
    assert jwt.decode(token, public, algorithms=["EdDSA"]) == {"sub": "user-1"}


def test_the_jwk_is_an_rfc_8037_okp_key() -> None:
    jwk = SigningKey.generate("k1", 1, now=NOW, lifetime_s=3600).public().jwk()
    assert {k: jwk[k] for k in ("kty", "crv", "use", "alg")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "use": "sig",
        "alg": "EdDSA",
    }
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32
    assert "d" not in jwk


def test_a_key_stays_verifiable_until_its_last_token_has_expired() -> None:
    key = SigningKey.generate("k1", 1, now=NOW, lifetime_s=3600)
    assert key.signs_at(NOW + timedelta(minutes=59))
    assert not key.signs_at(NOW + timedelta(hours=1))
    grace = timedelta(seconds=ACCESS_TOKEN_TTL_S + MAX_LEEWAY_S)
    assert key.verify_until == key.sign_until + grace


def test_a_sealed_key_opens_only_with_the_same_secret_and_kid() -> None:
    key = SigningKey.generate("k1", 1, now=NOW, lifetime_s=3600)
    sealer = KeySealer("a secret of at least thirty-two characters")
    sealed = sealer.seal(key)
    assert key.private_key.private_bytes_raw() not in sealed
    opened = sealer.unseal(key.kid, sealed)
    assert opened.private_bytes_raw() == key.private_key.private_bytes_raw()
    with pytest.raises(KeySealingError):
        KeySealer("another secret of at least thirty-two chars").unseal(key.kid, sealed)
    with pytest.raises(KeySealingError):
        sealer.unseal("another-kid", sealed)
