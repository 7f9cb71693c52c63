"""Cross-reference checks over rendered manifests: each returns the problems it finds, every
one naming the broken reference (empty when all is consistent)."""

from __future__ import annotations

from deploy.checks.flows import flow_problems
from deploy.checks.references import env_problems, port_problems, selector_problems
from deploy.checks.routing import body_limit_problems, routing_problems
from deploy.checks.workloads import autoscaling_problems, pod_problems, probe_route_problems
from deploy.kustomize import Resource


def all_problems(
    resources: list[Resource],
    nginx_config: str,
    drain_s: float,
    timeout_s: float,
    *,
    replicas: tuple[int, int] = (3, 10),
) -> list[str]:
    """Every check above."""
    return (
        selector_problems(resources)
        + port_problems(resources)
        + env_problems(resources)
        + autoscaling_problems(resources, replicas=replicas)
        + pod_problems(resources, drain_s, timeout_s)
        + probe_route_problems(resources)
        + routing_problems(resources, nginx_config)
        + body_limit_problems(resources, nginx_config)
        + flow_problems(resources)
    )
