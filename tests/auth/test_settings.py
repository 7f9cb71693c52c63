"""Settings fail fast: placeholder secrets outside development, argon2 costs below OWASP's."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nocturnal.auth.settings import AuthSettings

REAL_SECRET = "k3Jv9-production-grade-secret-value-0123456789"


def test_defaults_are_the_owasp_argon2id_minimums_and_the_auth_database() -> None:
    settings = AuthSettings()
    assert (settings.argon2_memory_kib, settings.argon2_time_cost) == (19 * 1024, 2)
    assert settings.argon2_parallelism == 1
    assert settings.mongo_database == "nocturnal_auth"


def test_production_refuses_the_development_signing_key_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOCTURNAL_ENV", "production")
    with pytest.raises(ValidationError, match="SIGNING_KEY_SECRET"):
        AuthSettings()
    monkeypatch.setenv("SIGNING_KEY_SECRET", REAL_SECRET)
    assert AuthSettings().signing_key_secret.get_secret_value() == REAL_SECRET


@pytest.mark.parametrize(
    "weaker",
    [
        {"argon2_memory_kib": 19 * 1024 - 1},
        {"argon2_time_cost": 1},
        {"argon2_parallelism": 0},
        {"password_hash_concurrency": 0},
        {"signing_key_secret": "short"},
    ],
)
def test_settings_below_the_minimums_are_refused(weaker: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(**weaker)


def test_settings_come_from_upper_case_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARGON2_MEMORY_KIB", "65536")
    monkeypatch.setenv("PASSWORD_HASH_CONCURRENCY", "2")
    monkeypatch.setenv("RATELIMIT_URL", "http://ratelimit:8000")
    settings = AuthSettings()
    assert settings.argon2_memory_kib == 65536
    assert settings.password_hash_concurrency == 2
    assert settings.ratelimit_url == "http://ratelimit:8000"
