"""Every manifest, as written and as each overlay renders it, validates strictly against the
schemas of several recent Kubernetes versions; the rendering is what `kubectl kustomize` gives."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from deploy import gateway_api
from deploy.kustomize import (
    BASE,
    ENTRIES,
    K8S,
    OVERLAYS,
    KustomizeError,
    Resource,
    key,
    load_documents,
    render,
)

# Recent minor versions whose schemas kubernetes-validate ships; the manifests use nothing that
# is newer than the oldest (the preStop `sleep` action is GA since 1.34 and on by default
# since 1.30).
KUBERNETES_VERSIONS = ("1.34", "1.35", "1.36", "1.37")

# kubernetes-validate reads its schema files on every call; the files do not change.
kubernetes_validate.utils.schema_contents = functools.cache(  # type: ignore[assignment]
    kubernetes_validate.utils.schema_contents
)

MANIFEST_FILES = sorted(K8S.rglob("*.yaml"))
RENDERINGS = {"base": BASE, **{f"entry/{k}": v for k, v in ENTRIES.items()}, **OVERLAYS}


def strict_problems(resource: Resource, version: str) -> list[str]:
    """Why `resource` is invalid for Kubernetes `version` (empty when it is valid)."""
    where = "/".join(key(resource))
    try:
        if resource["kind"] in gateway_api.SCHEMAS:
            gateway_api.validate(resource)
        else:
            kubernetes_validate.validate(resource, version, strict=True)
    except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
        path = ".".join(str(part) for part in exc.path)
        return [f"{where} against {version}: {path}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{where}: no schema: {exc.message}"]
    return []


def is_resource_file(path: Path) -> bool:
    """Not a kustomization and not a patch (a list of JSON 6902 operations)."""
    first = next(yaml.safe_load_all(path.read_text()))
    return path.name != "kustomization.yaml" and not isinstance(first, list)


RESOURCE_FILES = [path for path in MANIFEST_FILES if is_resource_file(path)]


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_file_validates_strictly(path: Path) -> None:
    resources = load_documents(path)

    problems = [p for r in resources for v in KUBERNETES_VERSIONS for p in strict_problems(r, v)]

    assert resources
    assert problems == []


def test_every_file_is_a_resource_a_kustomization_or_a_patch_of_one() -> None:
    rendered_from = {BASE / "secrets.template.yaml"}  # validated above, applied by hand
    for directory in RENDERINGS.values():
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        rendered_from |= {directory / entry for entry in kustomization.get("resources", [])}
        rendered_from |= {directory / patch["path"] for patch in kustomization.get("patches", [])}
        rendered_from.add(directory / "kustomization.yaml")

    assert set(MANIFEST_FILES) - rendered_from == set(), "files no kustomization uses"


@pytest.mark.parametrize("name", list(RENDERINGS))
def test_every_rendered_resource_validates_strictly(name: str) -> None:
    resources = render(RENDERINGS[name])

    problems = [p for r in resources for v in KUBERNETES_VERSIONS for p in strict_problems(r, v)]

    assert resources
    assert problems == []


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("name", list(RENDERINGS))
def test_rendering_equals_kubectl_kustomize(name: str) -> None:
    output = subprocess.run(
        ["kubectl", "kustomize", str(RENDERINGS[name])],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    theirs = {key(r): r for r in yaml.safe_load_all(output) if r}

    ours = {key(r): r for r in render(RENDERINGS[name])}

    assert sorted(ours) == sorted(theirs)
    different = [
        k
        for k in ours
        if json.dumps(ours[k], sort_keys=True) != json.dumps(theirs[k], sort_keys=True)
    ]
    assert different == []


# --- the checks fail when they should -------------------------------------------------------


def api_deployment(version: str = KUBERNETES_VERSIONS[-1]) -> dict[str, Any]:
    [deployment] = [r for r in load_documents(BASE / "api.yaml") if r["kind"] == "Deployment"]
    assert strict_problems(deployment, version) == []
    return deployment


def test_a_misspelt_field_fails_strict_validation_naming_it() -> None:
    deployment = api_deployment()
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 40

    [problem] = strict_problems(deployment, KUBERNETES_VERSIONS[-1])

    assert "terminationGracePeriod" in problem
    assert "Deployment//api" in problem


def test_a_wrong_type_fails_strict_validation_naming_the_field() -> None:
    deployment = api_deployment()
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"

    [problem] = strict_problems(deployment, KUBERNETES_VERSIONS[0])

    assert "containers.0.ports.0.containerPort" in problem


def test_a_misspelt_gateway_api_field_fails_naming_it() -> None:
    [route] = [
        r
        for r in load_documents(ENTRIES["gateway-api"] / "gateway-api.yaml")
        if r["kind"] == "HTTPRoute"
    ]
    assert strict_problems(route, KUBERNETES_VERSIONS[-1]) == []
    route["spec"]["rules"][0]["backendRef"] = route["spec"]["rules"][0].pop("backendRefs")

    [problem] = strict_problems(route, KUBERNETES_VERSIONS[-1])

    assert "backendRef" in problem


def test_the_renderer_refuses_what_it_cannot_render_faithfully(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\npatches:\n  - path: p.yaml\n    target: {kind: Deployment}\n"
    )
    (tmp_path / "p.yaml").write_text("spec: {replicas: 2}\n")  # strategic merge, not 6902

    with pytest.raises(KustomizeError, match="only JSON 6902 patches"):
        render(tmp_path)

    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tmp_path)


def test_a_patch_whose_target_matches_nothing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{BASE}]\npatches:\n  - path: p.yaml\n    target: {{kind: Deployment, name: apii}}\n"
    )
    (tmp_path / "p.yaml").write_text("- {op: remove, path: /spec/strategy}\n")

    with pytest.raises(KustomizeError, match="matches no resource"):
        render(tmp_path)
