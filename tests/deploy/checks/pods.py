"""Pods as the workloads declare them (labels, container ports) and label selection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deploy.kustomize import (
    Resource,
    containers,
    pod_template,
)

LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Pods:
    """The pods a workload runs: where, with which labels and container ports."""

    workload: str  # "Deployment/api"
    labels: Mapping[str, str]
    ports: tuple[tuple[str, int, str], ...]  # (name, number, protocol)

    @property
    def name(self) -> str:
        return self.labels.get(LABEL, self.workload)

    def port(self, wanted: int | str) -> tuple[str, int, str] | None:
        return next((p for p in self.ports if wanted in (p[0], p[1])), None)


def all_pods(resources: Iterable[Resource]) -> list[Pods]:
    pods = []
    for resource in resources:
        template = pod_template(resource)
        if template is None:
            continue
        ports = tuple(
            (p.get("name", ""), p["containerPort"], p.get("protocol", "TCP"))
            for c in containers(resource)
            for p in c.get("ports", [])
        )
        labels = template["metadata"].get("labels", {})
        pods.append(Pods(f"{resource['kind']}/{resource['metadata']['name']}", labels, ports))
    return pods


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def match_labels(selector: Mapping[str, Any] | None) -> dict[str, str]:
    selector = selector or {}
    if set(selector) - {"matchLabels"}:
        raise ValueError(f"only matchLabels selectors are checked here: {selector}")
    return dict(selector.get("matchLabels", {}))


def describe(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "(everything)"


def selected(pods: list[Pods], selector: Mapping[str, str]) -> list[Pods]:
    return [p for p in pods if selects(selector, p.labels)]


def name_of(resource: Resource) -> str:
    return f"{resource['kind']} {resource['metadata']['name']}"
