"""Settings fail fast: placeholder secrets outside development, argon2 costs below OWASP's."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nocturnal.auth.settings import AuthSettings
from nocturnal.shared.config import load_settings

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
    with pytest.raises(ValidationError, match="signing_key_secret"):
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


def test_a_placeholder_secret_is_listed_with_every_other_problem_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOCTURNAL_ENV", "production")
    monkeypatch.setenv("PORT", "http")
    monkeypatch.setenv("ARGON2_TIME_COST", "1")
    with pytest.raises(SystemExit) as stopped:
        load_settings(AuthSettings)
    assert stopped.value.code == 2
    prefix = "invalid configuration (AuthSettings): "
    problems = dict(
        line.removeprefix(prefix).split(": ", 1) for line in capsys.readouterr().err.splitlines()
    )
    assert list(problems) == ["PORT", "SIGNING_KEY_SECRET", "ARGON2_TIME_COST"]
    assert "placeholder" in problems["SIGNING_KEY_SECRET"]
    assert "dev-insecure-signing" not in problems["SIGNING_KEY_SECRET"]  # never the value


def test_outside_production_the_placeholder_secret_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for env in ("development", "test"):
        monkeypatch.setenv("NOCTURNAL_ENV", env)
        assert AuthSettings().signing_key_secret.get_secret_value().startswith("dev-insecure-")
