"""Ed25519 signing keys: generation, rotation windows, JWK form, signing, sealing at rest."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import Field
from typing_extensions import TypedDict

from nocturnal.shared.auth.claims import ALGORITHM, TOKEN_HORIZON_S, TOKEN_TYPE

_NONCE_BYTES = 12
_SEALING_INFO = b"nocturnal-auth signing-key sealing v1"


class JsonWebKey(TypedDict):
    """An Ed25519 public key as a JWK (RFC 7517, RFC 8037 `OKP`)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: Annotated[str, Field(description="the public key, base64url without padding")]
    kid: Annotated[str, Field(description="the key id tokens name in their header")]
    use: Literal["sig"]
    alg: Literal["EdDSA"]


@dataclass(frozen=True)
class PublicSigningKey:
    """The public half of a signing key, as published in the JWKS."""

    kid: str
    public_key: Ed25519PublicKey

    def jwk(self) -> JsonWebKey:
        """The RFC 8037 OKP JWK: `{kty: OKP, crv: Ed25519, x, kid, use: sig, alg: EdDSA}`."""
        raw = self.public_key.public_bytes_raw()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }


@dataclass(frozen=True)
class SigningKey:
    """A key pair of generation `generation`: signs until `sign_until`, verifies a little longer.

    `verify_until` covers the last token it signed: access-token lifetime plus the verifiers'
    maximum clock leeway.
    """

    kid: str
    generation: int
    private_key: Ed25519PrivateKey
    created_at: datetime
    sign_until: datetime

    @classmethod
    def generate(cls, kid: str, generation: int, *, now: datetime, lifetime_s: int) -> SigningKey:
        """A fresh key pair `kid` of `generation` that signs for `lifetime_s` seconds from `now`
        (the private key is drawn here: a secret, not an input)."""
        return cls(
            kid=kid,
            generation=generation,
            private_key=Ed25519PrivateKey.generate(),
            created_at=now,
            sign_until=now + timedelta(seconds=lifetime_s),
        )

    @property
    def verify_until(self) -> datetime:
        """When the last token this key may sign has expired."""
        return self.sign_until + timedelta(seconds=TOKEN_HORIZON_S)

    def signs_at(self, now: datetime) -> bool:
        """True while this key is the one to sign with."""
        return now < self.sign_until

    def public(self) -> PublicSigningKey:
        """The public half."""
        return PublicSigningKey(self.kid, self.private_key.public_key())

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS (EdDSA) with header `{alg: EdDSA, typ: at+jwt, kid}`."""
        headers = {"typ": TOKEN_TYPE, "kid": self.kid}
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers=headers)


class KeySealingError(ValueError):
    """A sealed private key cannot be opened: wrong `SIGNING_KEY_SECRET` or tampered data."""


class KeySealer:
    """Encrypts private keys at rest with AES-256-GCM.

    The AES key is derived from the configured secret with HKDF-SHA256; the key id is the
    associated data, so a sealed key cannot be swapped onto another key's record.
    Sealed form: 12-byte nonce || ciphertext || 16-byte tag.
    """

    def __init__(self, secret: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEALING_INFO)
        self._aead = AESGCM(hkdf.derive(secret.encode()))

    def seal(self, key: SigningKey) -> bytes:
        """The encrypted raw private key of `key`."""
        nonce = os.urandom(_NONCE_BYTES)
        raw = key.private_key.private_bytes_raw()
        return nonce + self._aead.encrypt(nonce, raw, key.kid.encode())

    def unseal(self, kid: str, sealed: bytes) -> Ed25519PrivateKey:
        """The private key sealed for `kid`.

        Raises:
            KeySealingError: the secret is not the one that sealed it, or the data was altered.
        """
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            raw = self._aead.decrypt(nonce, ciphertext, kid.encode())
        except InvalidTag:
            raise KeySealingError(f"cannot open signing key {kid}: wrong secret?") from None
        return Ed25519PrivateKey.from_private_bytes(raw)
