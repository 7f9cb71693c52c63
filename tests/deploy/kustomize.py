"""Render the k8s/ kustomizations the way `kubectl apply -k` does, for the features they use.

Supported: `resources` (files and directories), `namespace`, `images` and `patches` that are
JSON 6902 patches (applied with the `jsonpatch` library) with a `target` of kind, name
(a regular expression, as in kustomize), group and version. Any other kustomization field,
or a strategic-merge patch, is an error rather than silently skipped, so what the tests
validate is what the cluster would get; `test_manifests.py` compares the result with
`kubectl kustomize`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

Resource = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
BASE = K8S / "base"
OVERLAYS = {"dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
ENTRIES = {"gateway-api": K8S / "entry" / "gateway-api", "ingress": K8S / "entry" / "ingress"}

RENDERED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
TARGET_FIELDS = {"kind", "name", "group", "version"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "IngressClass",
    "GatewayClass",
    "CustomResourceDefinition",
}
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
}


class KustomizeError(Exception):
    """A kustomization uses something this renderer does not render faithfully."""


def load_documents(path: Path) -> list[Resource]:
    """Every YAML document of `path` that is not empty."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[Resource]:
    """The resources `kubectl kustomize <directory>` outputs (order aside).

    Raises:
        KustomizeError: an unsupported field or patch, or a patch target matching nothing.
    """
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - RENDERED_FIELDS
    if unknown:
        raise KustomizeError(f"{directory}: fields {sorted(unknown)} are not rendered here")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        resources += render(path) if path.is_dir() else load_documents(path)
    for patch in kustomization.get("patches", []):
        resources = _patched(resources, directory / patch["path"], patch.get("target", {}))
    for image in kustomization.get("images", []):
        _set_image(resources, image)
    if "namespace" in kustomization:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    return resources


def _patched(resources: list[Resource], path: Path, target: dict[str, str]) -> list[Resource]:
    operations = yaml.safe_load(path.read_text())
    if not isinstance(operations, list):
        raise KustomizeError(f"{path}: only JSON 6902 patches (a list of operations) are rendered")
    if set(target) - TARGET_FIELDS or "kind" not in target:
        raise KustomizeError(f"{path}: target {target} is not rendered here")
    patch = jsonpatch.JsonPatch(operations)
    matched = 0
    result = []
    for resource in resources:
        if _matches(resource, target):
            resource = patch.apply(resource)
            matched += 1
        result.append(resource)
    if not matched:
        raise KustomizeError(f"{path}: target {target} matches no resource")
    return result


def _matches(resource: Resource, target: dict[str, str]) -> bool:
    group, _, version = resource["apiVersion"].rpartition("/")
    return (
        resource["kind"] == target["kind"]
        and re.fullmatch(target.get("name", ".*"), resource["metadata"]["name"]) is not None
        and target.get("group", group) == group
        and target.get("version", version) == version
    )


def containers(resource: Resource) -> Iterator[Resource]:
    """Containers and init containers of a workload's pod template (none for other kinds)."""
    spec = pod_spec(resource)
    if spec is None:
        return
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def pod_template(resource: Resource) -> Resource | None:
    """The pod template of a workload, or None."""
    path = POD_TEMPLATE_PATHS.get(resource["kind"])
    if path is None:
        return None
    node: Any = resource
    for key in path:
        node = node[key]
    return dict(node)


def pod_spec(resource: Resource) -> Resource | None:
    """The pod spec of a workload, or None."""
    template = pod_template(resource)
    return None if template is None else dict(template["spec"])


def _set_image(resources: list[Resource], image: dict[str, str]) -> None:
    for resource in resources:
        for container in containers(resource):
            name, tag = _split_image(container["image"])
            if name != image["name"]:
                continue
            container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"


def _split_image(reference: str) -> tuple[str, str]:
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


def key(resource: Resource) -> tuple[str, str, str]:
    """(kind, namespace, name): how kubectl tells resources apart."""
    metadata = resource["metadata"]
    return resource["kind"], metadata.get("namespace", ""), metadata["name"]


def by_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    """The resources of `kind` by name."""
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def copied(resources: list[Resource]) -> list[Resource]:
    """A deep copy, for tests that break a manifest."""
    return copy.deepcopy(resources)
