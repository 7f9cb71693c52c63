"""compose.yaml validates with docker-compose, agrees with the services' settings, scales by
design, and its gateway is the local gateway's template; the S3 lifecycle rule is valid S3."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from deploy.checks.references import variable_problems
from deploy.kustomize import ROOT
from gateway.render import (
    COMPOSE_GATEWAY_PORT,
    COMPOSE_UNAVAILABLE_PORT,
    COMPOSE_VIP_PORTS,
    SERVICES,
    render_compose,
)
from tools.devstack import GatewayLayout, render_gateway_config

COMPOSE_FILE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
LIFECYCLE = ROOT / "deploy" / "s3-lifecycle.json"
SECRETS = ("SIGNING_KEY_SECRET", "URL_SIGNING_SECRET", "RABBITMQ_PASSWORD", "MINIO_ROOT_PASSWORD")
ONE_SHOT = {"minio-init"}

needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (tools/bootstrap.sh installs Debian's)",
)


def compose_config(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` of compose.yaml with exactly `env` (no .env file, no shell)."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", **env},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def example_env() -> dict[str, str]:
    """The variables .env.example sets (its placeholders)."""
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines())
    return {k: v for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("#")}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """compose.yaml as docker-compose resolves it (anchors merged, variables filled in)."""
    result = compose_config(example_env(), tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@needs_compose
def test_compose_file_validates(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == {
        *SERVICES,
        "gateway",
        "mongo",
        "redis",
        "rabbitmq",
        "minio",
        "minio-init",
    }


@needs_compose
@pytest.mark.parametrize("missing", SECRETS)
def test_compose_refuses_to_start_without_a_secret_naming_it(missing: str, tmp_path: Path) -> None:
    env = {k: v for k, v in example_env().items() if k != missing}

    result = compose_config(env, tmp_path)

    assert result.returncode != 0
    assert f"set {missing} in .env" in result.stderr


@needs_compose
@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_what_each_service_needs_and_nothing_it_does_not_read(
    resolved: dict[str, Any], service: str
) -> None:
    environment = set(resolved["services"][service]["environment"])
    # The image sets PORT and VERSION (Dockerfile), both read by every service.
    problems = variable_problems(f"compose {service}", service, environment | {"PORT", "VERSION"})

    assert problems == []


@needs_compose
def test_uploads_go_to_minio_not_a_container_directory(resolved: dict[str, Any]) -> None:
    environment = resolved["services"]["upload"]["environment"]

    assert environment["STORAGE_BACKEND"] == "s3"
    assert environment["S3_ENDPOINT_URL"] == "http://minio:9000"
    init = " ".join(resolved["services"]["minio-init"]["command"])
    assert f"mc mb --ignore-existing nocturnal/{environment['S3_BUCKET']} " in init
    assert (
        f"ilm rule import nocturnal/{environment['S3_BUCKET']} < /deploy/s3-lifecycle.json" in init
    )


@needs_compose
def test_services_scale_by_design(resolved: dict[str, Any]) -> None:
    for name in SERVICES:
        service = resolved["services"][name]
        # `--scale` needs no fixed host port and no fixed container name.
        assert "ports" not in service, name
        assert "container_name" not in service, name
        # Peers are found by service name, which Docker's DNS resolves to every replica.
        for peer in ("auth", "ratelimit", "upload"):
            url = service["environment"].get(f"{peer.upper()}_URL")
            assert url in (None, f"http://{peer}:8000"), name


@needs_compose
def test_everything_has_a_healthcheck_and_starts_after_what_it_needs(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no"
            continue
        assert service["healthcheck"]["test"], name
        for dependency, condition in service.get("depends_on", {}).items():
            wanted = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert condition == {"condition": wanted}, f"{name} -> {dependency}"
            assert dependency in services


@needs_compose
def test_services_run_locked_down(resolved: dict[str, Any]) -> None:
    for name in SERVICES:
        service = resolved["services"][name]
        assert service["user"] == "10001:10001"
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert service["security_opt"] == ["no-new-privileges:true"]


# --- one gateway template --------------------------------------------------------------------


def test_compose_gateway_is_the_local_gateway_but_for_its_upstream_addresses(
    tmp_path: Path,
) -> None:
    layout = GatewayLayout(
        COMPOSE_GATEWAY_PORT,
        COMPOSE_VIP_PORTS,
        {s: [9000 + i] for i, s in enumerate(SERVICES)},
        COMPOSE_UNAVAILABLE_PORT,
    )
    local = render_gateway_config(layout, Path("/tmp"), Path("/var/log/nginx")).splitlines()
    compose = render_compose().splitlines()

    assert len(local) == len(compose)
    differing = [(a.strip(), b.strip()) for a, b in zip(local, compose, strict=True) if a != b]
    for local_line, _ in differing:
        assert re.fullmatch(
            r"(server \S+|client_body_temp_path|proxy_temp_path|fastcgi_temp_path|uwsgi_temp_path|scgi_temp_path|# \(no resolver.*|resolver) .*",
            local_line,
        ), local_line
    assert (
        "# (no resolver: fixed addresses)",
        "resolver 127.0.0.11 valid=5s ipv6=off;",
    ) in differing
    assert (
        "server 127.0.0.1:9001 max_fails=3 fail_timeout=10s;",
        "server api:8000 resolve max_fails=3 fail_timeout=10s;",
    ) in differing


def test_gateway_image_renders_with_the_standard_library_alone() -> None:
    result = subprocess.run(
        ["python3", "-I", str(ROOT / "gateway" / "render.py"), "compose"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == render_compose()


# --- the bucket's lifecycle rule ------------------------------------------------------------


@pytest.mark.integration
def test_lifecycle_rule_is_a_valid_s3_configuration(s3_endpoint_url: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = "lifecycle-check"
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration=json.loads(LIFECYCLE.read_text())
        )
        [rule] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    finally:
        s3.delete_bucket(Bucket=bucket)

    assert rule["Status"] == "Enabled"
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
