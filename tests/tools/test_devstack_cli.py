"""tools.devstack.cli: settings from flags, then environment, then defaults; exit codes of make run."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tools.devstack import ROOT, main, settings_from_cli


def test_instance_counts_come_from_flags_then_environment_then_defaults() -> None:
    environ = {"API_INSTANCES": "3", "UPLOAD_INSTANCES": "2"}
    settings = settings_from_cli(["--upload", "4"], environ)

    assert settings.instances == {"auth": 1, "api": 3, "upload": 4, "ratelimit": 1}
    assert settings.gateway_port == 8080


def test_backing_server_urls_come_from_the_environment() -> None:
    environ = {"MONGO_URL": "mongodb://db:27017", "S3_ENDPOINT_URL": "http://minio:9000"}
    settings = settings_from_cli(["--gateway-port", "9090"], environ)

    assert settings.mongo_url == "mongodb://db:27017"
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.gateway_port == 9090


def test_gateway_port_and_exchange_come_from_the_environment() -> None:
    environ = {"GATEWAY_PORT": "18082", "EVENTS_EXCHANGE": "nocturnal.events.mine"}
    settings = settings_from_cli([], environ)

    assert settings.gateway_port == 18082
    assert settings.events_exchange == "nocturnal.events.mine"
    assert not settings.moto


def test_a_bad_instance_count_in_the_environment_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("API_INSTANCES", "two")

    assert main([]) == 2
    assert "bad instance count or port" in capsys.readouterr().err


def test_make_run_on_a_port_in_use_exits_1_and_says_so() -> None:
    # A child process: main() installs signal handlers, which must not outlive it in pytest.
    with socket.create_server(("0.0.0.0", 0)) as listener:
        port = listener.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tools.devstack", "--gateway-port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr
