"""The shape every service's workload must have: autoscaling, disruption budget, security
context, graceful termination, spread, resources, probes on real routes."""

from __future__ import annotations

from deploy.checks.pods import match_labels, selects
from deploy.checks.references import probes
from deploy.checks.services import SERVICES, service_routes
from deploy.kustomize import (
    Resource,
    by_kind,
    containers,
    pod_spec,
)

# Where memory tracks load (docs/scaling.md): an upload in flight buffers an S3 part.
MEMORY_SCALED = {"upload"}


def autoscaling_problems(
    resources: list[Resource], *, replicas: tuple[int, int] = (3, 10)
) -> list[str]:
    """Every service: a Deployment without replicas rolling with maxUnavailable 0, an
    autoscaling/v2 HPA (`replicas` min and max, CPU 70 %, memory 80 % only where memory tracks load, slow
    scale-down) and a PodDisruptionBudget selecting its pods."""
    deployments = by_kind(resources, "Deployment")
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in by_kind(resources, "HorizontalPodAutoscaler").values()
    }
    pdbs = list(by_kind(resources, "PodDisruptionBudget").values())
    problems = []
    for service in SERVICES:
        deployment = deployments[service]
        spec = deployment["spec"]
        if "replicas" in spec:
            problems.append(f"Deployment {service} sets replicas, which its HPA owns")
        rolling = spec.get("strategy", {})
        if (
            rolling.get("type") != "RollingUpdate"
            or rolling.get("rollingUpdate", {}).get("maxUnavailable") != 0
        ):
            problems.append(f"Deployment {service} does not roll with maxUnavailable 0")
        labels = spec["template"]["metadata"]["labels"]
        if not any(selects(match_labels(p["spec"]["selector"]), labels) for p in pdbs):
            problems.append(f"Deployment {service} has no PodDisruptionBudget")
        hpa = hpas.get(service)
        if hpa is None:
            problems.append(f"Deployment {service} has no HorizontalPodAutoscaler")
            continue
        problems += hpa_problems(service, hpa, replicas)
    return problems


def hpa_problems(service: str, hpa: Resource, replicas: tuple[int, int]) -> list[str]:
    where, spec = f"HorizontalPodAutoscaler {hpa['metadata']['name']}", hpa["spec"]
    targets = {
        m["resource"]["name"]: m["resource"]["target"].get("averageUtilization")
        for m in spec["metrics"]
        if m["type"] == "Resource"
    }
    expected = {"cpu": 70} | ({"memory": 80} if service in MEMORY_SCALED else {})
    problems = []
    if hpa["apiVersion"] != "autoscaling/v2":
        problems.append(f"{where} is {hpa['apiVersion']}, not autoscaling/v2")
    if (spec["minReplicas"], spec["maxReplicas"]) != replicas:
        problems.append(
            f"{where} scales {spec['minReplicas']}..{spec['maxReplicas']}, not {replicas[0]}..{replicas[1]}"
        )
    if targets != expected:
        problems.append(f"{where} targets {targets}, expected {expected}")
    if spec.get("behavior", {}).get("scaleDown", {}).get("stabilizationWindowSeconds", 0) <= 0:
        problems.append(f"{where} has no scale-down stabilisation")
    return problems


def pod_problems(resources: list[Resource], drain_s: float, timeout_s: float) -> list[str]:
    """Every service pod: its own ServiceAccount without a token, the restricted security
    context, a preStop sleep and a grace period longer than preStop + drain + shutdown, spread
    over zones and nodes, and requests and limits."""
    accounts = by_kind(resources, "ServiceAccount")
    problems = []
    for service in SERVICES:
        deployment = by_kind(resources, "Deployment")[service]
        spec = pod_spec(deployment)
        assert spec is not None
        where = f"Deployment {service}"
        account = accounts.get(spec.get("serviceAccountName", ""))
        if account is None or spec["serviceAccountName"] != service:
            problems.append(f"{where} does not run as its own ServiceAccount")
        elif (
            account.get("automountServiceAccountToken") is not False
            or spec.get("automountServiceAccountToken") is not False
        ):
            problems.append(f"{where} mounts a ServiceAccount token")
        pod_context = spec.get("securityContext", {})
        if (
            not pod_context.get("runAsNonRoot")
            or pod_context.get("seccompProfile", {}).get("type") != "RuntimeDefault"
        ):
            problems.append(f"{where}: pod is not runAsNonRoot with RuntimeDefault seccomp")
        keys = {c["topologyKey"] for c in spec.get("topologySpreadConstraints", [])}
        if keys != {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}:
            problems.append(f"{where} spreads over {sorted(keys)}, not zones and nodes")
        for container in spec["containers"]:
            problems += container_problems(f"{where} container {container['name']}", container)
            pre_stop = (
                container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
            )
            if pre_stop is None:
                problems.append(f"{where}: no preStop sleep")
                continue
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace <= pre_stop + drain_s + timeout_s:
                problems.append(
                    f"{where}: terminationGracePeriodSeconds {grace} <= preStop {pre_stop} + drain {drain_s} + shutdown {timeout_s}"
                )
    return problems


def container_problems(where: str, container: Resource) -> list[str]:
    context = container.get("securityContext", {})
    problems = []
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where} allows privilege escalation")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where} has a writable root filesystem")
    if context.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append(f"{where} keeps capabilities")
    resources = container.get("resources", {})
    for kind in ("requests", "limits"):
        if set(resources.get(kind, {})) != {"cpu", "memory"}:
            problems.append(f"{where} has no cpu and memory {kind}")
    return problems


def probe_route_problems(resources: list[Resource]) -> list[str]:
    """Every HTTP probe of a service points at a GET route the service serves."""
    problems = []
    for service in SERVICES:
        served = {path for method, path in service_routes(service) if method == "GET"}
        deployment = by_kind(resources, "Deployment")[service]
        for container in containers(deployment):
            for kind, probe in probes(container):
                path = probe.get("httpGet", {}).get("path")
                if path is not None and path not in served:
                    problems.append(
                        f"Deployment {service} {kind} path {path} is not a route of {service}"
                    )
    return problems
