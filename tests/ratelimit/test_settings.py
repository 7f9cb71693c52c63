"""Settings from the environment: policies as JSON, fail fast on bad values."""

from __future__ import annotations

import pytest

from nocturnal.ratelimit.settings import RatelimitSettings
from nocturnal.shared.config import load_settings
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Policy


def test_defaults_match_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "REDIS_TIMEOUT_S", "RATELIMIT_POLICIES", "RATELIMIT_PEERS_DNS"):
        monkeypatch.delenv(name, raising=False)
    settings = RatelimitSettings()
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.redis_timeout_s == 0.1
    assert settings.ratelimit_peers_dns is None
    assert settings.policies == dict(DEFAULT_POLICIES)


def test_policies_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RATELIMIT_POLICIES",
        '{"api": {"window_s": 60, "normal": 200, "strict": 20}, '
        '"search": {"window_s": 1, "normal": 5, "strict": 2}}',
    )
    policies = RatelimitSettings().policies
    assert policies["api"] == Policy("api", window_s=60, normal=200, strict=20)
    assert policies["search"] == Policy("search", window_s=1, normal=5, strict=2)
    assert policies["upload"] == DEFAULT_POLICIES["upload"]


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        '{"Bad Name": {"window_s": 1, "normal": 1, "strict": 1}}',
        '{"api": {"window_s": 60, "normal": 5, "strict": 9}}',
    ],
)
def test_invalid_policies_stop_the_service_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("RATELIMIT_POLICIES", value)
    with pytest.raises(SystemExit) as exit_info:
        load_settings(RatelimitSettings)
    assert exit_info.value.code == 2
    assert "RATELIMIT_POLICIES" in capsys.readouterr().err


def test_every_bad_variable_is_listed_at_once_named_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_TIMEOUT_S", "9")
    monkeypatch.setenv(
        "RATELIMIT_POLICIES",
        '{"auth": {"window_s": 0, "normal": 5, "strict": 3}, "api": {"window_s": 60, "normal": 5}}',
    )
    with pytest.raises(SystemExit):
        load_settings(RatelimitSettings)
    prefix = "invalid configuration (RatelimitSettings): "
    problems = capsys.readouterr().err.splitlines()
    assert [line.removeprefix(prefix).split(":")[0] for line in problems] == [
        "REDIS_TIMEOUT_S",
        "RATELIMIT_POLICIES.auth.window_s",
        "RATELIMIT_POLICIES.api.strict",
    ]
