"""ApiSettings from the environment: defaults, overrides, fail fast on bad values."""

from __future__ import annotations

import pytest

from nocturnal.api.settings import ApiSettings
from nocturnal.shared.config import load_settings


def test_defaults_name_the_api_database_and_peers_by_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONGO_DATABASE", "UPLOAD_URL", "AUTH_URL", "RATELIMIT_URL", "PHOTO_URL_TTL_S"):
        monkeypatch.delenv(name, raising=False)
    settings = ApiSettings()
    assert settings.mongo_database == "nocturnal_api"
    assert (settings.auth_url, settings.ratelimit_url, settings.upload_url) == (
        "http://auth",
        "http://ratelimit",
        "http://upload",
    )
    assert settings.photo_url_ttl_s == 3600


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLOAD_URL", "http://upload.internal:8000")
    monkeypatch.setenv("PHOTO_URL_TTL_S", "600")
    monkeypatch.setenv("EVENTS_EXCHANGE", "nocturnal.events.staging")
    settings = ApiSettings()
    assert settings.upload_url == "http://upload.internal:8000"
    assert settings.photo_url_ttl_s == 600
    assert settings.events_exchange == "nocturnal.events.staging"


def test_invalid_values_stop_the_service_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PHOTO_URL_TTL_S", "10")
    monkeypatch.setenv("PORT", "http")
    with pytest.raises(SystemExit) as stopped:
        load_settings(ApiSettings)
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert "PHOTO_URL_TTL_S" in message
    assert "PORT" in message
