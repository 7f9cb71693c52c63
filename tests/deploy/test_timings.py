"""The graceful-shutdown numbers are the same in the code, compose.yaml, the manifests and the
local runner, and every grace period is longer than the drain and the shutdown together."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from deploy.kustomize import BASE, OVERLAYS, ROOT, by_kind, render
from nocturnal.shared.config import ServiceSettings
from tools.devstack import STOP_GRACE_S

DRAIN_S = ServiceSettings.model_fields["shutdown_drain_s"].default
TIMEOUT_S = ServiceSettings.model_fields["shutdown_timeout_s"].default
SERVICES = ("auth", "api", "upload", "ratelimit")


def seconds(duration: str) -> float:
    """A compose duration such as `30s` or `1m30s`, in seconds."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    return int(parts.group(1) or 0) * 60 + int(parts.group(2) or 0)


def test_code_defaults_leave_room_for_a_gateway_to_notice() -> None:
    assert DRAIN_S >= 5  # endpoints and gateways need a few seconds to drop a pod
    assert TIMEOUT_S > DRAIN_S


def test_compose_uses_the_code_numbers_and_a_longer_grace_period() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for name in SERVICES:
        service = compose["services"][name]
        environment = service["environment"]
        assert float(environment["SHUTDOWN_DRAIN_S"]) == DRAIN_S, name
        assert float(environment["SHUTDOWN_TIMEOUT_S"]) == TIMEOUT_S, name
        assert service["stop_signal"] == "SIGTERM", name
        assert seconds(service["stop_grace_period"]) > DRAIN_S + TIMEOUT_S, name


@pytest.mark.parametrize("rendering", [BASE, *OVERLAYS.values()], ids=["base", *OVERLAYS])
def test_manifests_use_the_code_numbers_and_a_longer_grace_period(rendering: Path) -> None:
    resources = render(rendering)
    config = by_kind(resources, "ConfigMap")["nocturnal-common"]["data"]

    assert float(config["SHUTDOWN_DRAIN_S"]) == DRAIN_S
    assert float(config["SHUTDOWN_TIMEOUT_S"]) == TIMEOUT_S
    for name in SERVICES:
        pod = by_kind(resources, "Deployment")[name]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > pre_stop + DRAIN_S + TIMEOUT_S, name


def test_the_images_stop_with_sigterm() -> None:
    assert "\nSTOPSIGNAL SIGTERM\n" in (ROOT / "Dockerfile").read_text()


def test_the_local_runner_waits_longer_than_a_service_takes_to_stop() -> None:
    assert STOP_GRACE_S > DRAIN_S + TIMEOUT_S
