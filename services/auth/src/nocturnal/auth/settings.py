"""Auth service settings (environment variable = upper-case field name)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from nocturnal.shared.config import MongoSettings, PeerSettings, ServiceSettings

# OWASP Password Storage Cheat Sheet, argon2id minimum: m=19 MiB, t=2, p=1.
ARGON2_MIN_MEMORY_KIB = 19 * 1024
ARGON2_MIN_TIME_COST = 2
ARGON2_MIN_PARALLELISM = 1


class AuthSettings(ServiceSettings, MongoSettings, PeerSettings):
    """Settings of the auth service.

    `SIGNING_KEY_SECRET` encrypts the Ed25519 private keys at rest (the `dev-insecure-` default
    is refused in production); `ARGON2_*` costs below OWASP's minimums are refused.
    """

    mongo_database: str = "nocturnal_auth"
    signing_key_secret: SecretStr = Field(
        default=SecretStr("dev-insecure-signing-key-secret-change-me"), min_length=32
    )
    signing_key_rotation_s: int = Field(default=30 * 24 * 3600, ge=3600)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=3600)
    argon2_memory_kib: int = Field(default=ARGON2_MIN_MEMORY_KIB, ge=ARGON2_MIN_MEMORY_KIB)
    argon2_time_cost: int = Field(default=ARGON2_MIN_TIME_COST, ge=ARGON2_MIN_TIME_COST)
    argon2_parallelism: int = Field(default=ARGON2_MIN_PARALLELISM, ge=ARGON2_MIN_PARALLELISM)
    password_hash_concurrency: int = Field(default=4, ge=1, le=64)
    password_hash_wait_s: float = Field(default=2.0, gt=0, le=30)
    password_hash_queue: int = Field(default=8, ge=0, le=1024)
