"""Settings from the environment: every problem listed at once, each variable named as written."""

from __future__ import annotations

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from nocturnal.shared.config import SETTINGS_CONFIG, ServiceSettings, load_settings


class ShiftSettings(ServiceSettings):
    """A service's settings with a secret and a nested JSON value."""

    shift_secret: SecretStr = SecretStr("dev-insecure-shift-secret")
    shift_hours: dict[str, int] = Field(default_factory=dict)


def problems(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Variable -> message, from one line per problem, each naming the settings class."""
    prefix = "invalid configuration (ShiftSettings): "
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith(prefix) for line in lines), lines
    return dict(line.removeprefix(prefix).split(": ", 1) for line in lines)


def test_every_problem_is_listed_at_once_placeholder_secrets_included(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOCTURNAL_ENV", "production")
    monkeypatch.setenv("PORT", "99999")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    monkeypatch.setenv("SHIFT_HOURS", '{"Night": "eight"}')
    with pytest.raises(SystemExit) as stopped:
        load_settings(ShiftSettings)
    assert stopped.value.code == 2
    assert list(problems(capsys)) == ["PORT", "LOG_LEVEL", "SHIFT_SECRET", "SHIFT_HOURS.Night"]


def test_a_real_secret_in_production_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOCTURNAL_ENV", "production")
    monkeypatch.setenv("SHIFT_SECRET", "a-real-secret")
    assert load_settings(ShiftSettings).shift_secret.get_secret_value() == "a-real-secret"


def test_an_invalid_environment_name_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOCTURNAL_ENV", "prod")
    with pytest.raises(SystemExit):
        load_settings(ShiftSettings)
    assert "NOCTURNAL_ENV" in problems(capsys)


class VaultSettings(BaseSettings):
    """A settings mix-in with a secret of its own."""

    model_config = SETTINGS_CONFIG

    vault_token: SecretStr = SecretStr("dev-insecure-vault-token")


def test_a_secret_validated_before_env_is_refused_when_the_class_is_made() -> None:
    # The fields of later bases come first: the placeholder check could not see `env`.
    with pytest.raises(
        TypeError, match=r"VaultedSettings\.vault_token is a secret declared before env"
    ):

        class VaultedSettings(ServiceSettings, VaultSettings):
            pass
