"""A service started the way the manifests start it refuses a missing or placeholder secret
with one clear line, before it connects anywhere."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from deploy.checks.references import secret_template_values
from deploy.kustomize import OVERLAYS, by_kind, render

SECRET_OF = {"auth": "SIGNING_KEY_SECRET", "upload": "URL_SIGNING_SECRET"}


def manifest_env(service: str) -> dict[str, str]:
    """The environment the prod overlay gives the service's container, with the Secret
    template's values (what `kubectl apply` of the template unchanged would give)."""
    resources = render(OVERLAYS["prod"])
    config_maps = by_kind(resources, "ConfigMap")
    secrets = secret_template_values()
    [container] = by_kind(resources, "Deployment")[service]["spec"]["template"]["spec"][
        "containers"
    ]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= config_maps[source["configMapRef"]["name"]]["data"]
    for entry in container.get("env", []):
        ref: dict[str, Any] = entry.get("valueFrom", {}).get("secretKeyRef", {})
        env[entry["name"]] = secrets[ref["name"]][ref["key"]] if ref else entry["value"]
    return env


def start(env: dict[str, str], service: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"nocturnal.{service}"],
        env={"PATH": "/usr/bin:/bin", "PORT": "8000", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("service", list(SECRET_OF))
def test_the_secret_template_unchanged_is_refused_in_one_line(service: str) -> None:
    env = manifest_env(service)
    assert env["NOCTURNAL_ENV"] == "production"

    result = start(env, service)

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"invalid configuration ({service.capitalize()}Settings): ")
    assert SECRET_OF[service] in line
    assert "placeholder" in line


@pytest.mark.parametrize("service", list(SECRET_OF))
def test_a_missing_secret_is_refused_in_one_line(service: str) -> None:
    env = manifest_env(service)
    del env[SECRET_OF[service]]

    result = start(env, service)

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert SECRET_OF[service] in line
    assert "development placeholder" in line


def test_a_too_short_secret_is_refused_in_one_line() -> None:
    env = manifest_env("auth") | {"SIGNING_KEY_SECRET": "short"}

    result = start(env, "auth")

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("invalid configuration (AuthSettings): SIGNING_KEY_SECRET: ")
