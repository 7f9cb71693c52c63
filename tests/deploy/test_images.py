"""The images: one parameterised Dockerfile for every service, holding only that service's
locked dependencies, run as a numeric non-root user; the gateway image from the one template."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deploy.kustomize import ROOT

SERVICES = ("auth", "api", "upload", "ratelimit")
DOCKERFILE = ROOT / "Dockerfile"
UV = [uv] if (uv := shutil.which("uv")) else ["python3", "-m", "uv"]  # as the Makefile finds it


def final_stage(dockerfile: str) -> list[str]:
    """The instructions after the last FROM, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from:]


def direct_dependencies(pyproject: str) -> set[str]:
    project = tomllib.loads((ROOT / pyproject).read_text())
    names = project.get("project", {}).get("dependencies", [])
    names += project.get("dependency-groups", {}).get("dev", [])
    return {canonicalize_name(Requirement(n).name) for n in names} - {"nocturnal-shared"}


def locked_packages(service: str) -> set[str]:
    """What `uv sync --no-dev --package nocturnal-<service>` (the Dockerfile's) installs."""
    exported = subprocess.run(
        [
            *UV,
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-workspace",
            "--package",
            f"nocturnal-{service}",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    return {
        canonicalize_name(re.split(r"[=<>;@ ]", line, maxsplit=1)[0])
        for line in exported.splitlines()
        if line and not line.startswith(("#", " "))
    }


def test_one_dockerfile_builds_every_service() -> None:
    assert sorted(ROOT.glob("services/*/Dockerfile")) == []
    text = DOCKERFILE.read_text()
    assert 'uv sync --frozen --no-dev --no-editable --package "nocturnal-${SERVICE}"' in text
    assert "COPY services/${SERVICE} services/${SERVICE}" in text  # no other service's code


def test_final_stage_runs_the_service_as_a_numeric_user_without_build_tools() -> None:
    stage = final_stage(DOCKERFILE.read_text())

    assert [line for line in stage if line.startswith("USER ")] == ["USER 10001:10001"]
    assert "STOPSIGNAL SIGTERM" in stage
    assert any('org.opencontainers.image.version="${VERSION}"' in line for line in stage)
    assert [line for line in stage if line.startswith("RUN ")] == []  # nothing installed
    assert [line for line in stage if line.startswith("COPY ")] == ["COPY --from=build /app /app"]
    assert stage[-1] == 'ENTRYPOINT ["/app/bin/nocturnal-service"]'


@pytest.mark.parametrize("service", SERVICES)
def test_an_image_holds_its_service_dependencies_only(service: str) -> None:
    packages = locked_packages(service)
    others = set().union(
        *(direct_dependencies(f"services/{s}/pyproject.toml") for s in SERVICES if s != service)
    )
    own = direct_dependencies(f"services/{service}/pyproject.toml")
    dev = direct_dependencies("pyproject.toml")

    assert own <= packages
    assert packages & (others - own - direct_dependencies("shared/pyproject.toml")) == set()
    assert packages & dev == set()


def test_gateway_image_is_rendered_from_the_one_template() -> None:
    text = (ROOT / "gateway" / "Dockerfile").read_text()

    assert "RUN python /gateway/render.py compose > /nginx.conf" in text
    assert "COPY --from=render /nginx.conf /etc/nginx/nginx.conf" in text
    assert sorted(p.name for p in (ROOT / "gateway").glob("*.template")) == ["nginx.conf.template"]
