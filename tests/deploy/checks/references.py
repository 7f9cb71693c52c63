"""References between objects: selectors, ports, backends, ConfigMap and Secret keys, and the
environment each service gets against what it reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from deploy.checks.pods import Pods, all_pods, describe, match_labels, name_of, selected, selects
from deploy.checks.services import SERVICES, variables_needed_in_production, variables_read
from deploy.kustomize import (
    BASE,
    Resource,
    by_kind,
    containers,
    load_documents,
    pod_spec,
    pod_template,
)

SECRETS_TEMPLATE = BASE / "secrets.template.yaml"


def selector_problems(resources: list[Resource]) -> list[str]:
    """Workload selectors match their templates; Services, PDBs, NetworkPolicies and spread
    constraints select existing pods; HPAs and StatefulSets name existing objects."""
    pods = all_pods(resources)
    services = by_kind(resources, "Service")
    problems = []
    for resource in resources:
        kind, where = resource["kind"], name_of(resource)
        spec = resource.get("spec", {})
        template = pod_template(resource)
        if template is not None and kind != "Job":
            selector = match_labels(spec["selector"])
            if not selects(selector, template["metadata"].get("labels", {})):
                problems.append(
                    f"{where}: selector {describe(selector)} does not match its pod template"
                )
        if kind == "StatefulSet" and spec["serviceName"] not in services:
            problems.append(f"{where}: serviceName {spec['serviceName']} is not a Service")
        for constraint in (pod_spec(resource) or {}).get("topologySpreadConstraints", []):
            own = template["metadata"]["labels"] if template else {}
            wanted = match_labels(constraint["labelSelector"])
            if not selects(wanted, own):
                problems.append(
                    f"{where}: spread constraint selects {describe(wanted)}, not its own pods"
                )
        if kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
            wanted = (
                spec["selector"]
                if kind == "Service"
                else match_labels(
                    spec.get("selector") if kind == "PodDisruptionBudget" else spec["podSelector"]
                )
            )
            if wanted and not selected(pods, wanted):
                problems.append(f"{where} selects {describe(wanted)}: no pods carry those labels")
        if kind == "NetworkPolicy":
            problems += [f"{where}: {p}" for p in peer_problems(spec, pods)]
        if kind == "HorizontalPodAutoscaler":
            target = spec["scaleTargetRef"]
            if target["name"] not in by_kind(resources, target["kind"]):
                problems.append(
                    f"{where} scales {target['kind']} {target['name']}, which does not exist"
                )
    return problems


def peer_problems(spec: Resource, pods: list[Pods]) -> list[str]:
    problems = []
    for rule in spec.get("ingress", []) + spec.get("egress", []):
        for peer in rule.get("from", []) + rule.get("to", []):
            if "podSelector" in peer and "namespaceSelector" not in peer:
                wanted = match_labels(peer["podSelector"])
                if not selected(pods, wanted):
                    problems.append(f"peer {describe(wanted)}: no pods carry those labels")
    return problems


def port_problems(resources: list[Resource]) -> list[str]:
    """Service target ports, probe ports and NetworkPolicy ports exist on the pods; Ingress and
    HTTPRoute backends are existing Services and ports."""
    pods = all_pods(resources)
    services = by_kind(resources, "Service")
    problems = []
    for name, service in services.items():
        chosen = selected(pods, service["spec"].get("selector", {}))
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for pod in chosen:
                if pod.port(target) is None:
                    problems.append(
                        f"Service {name} targetPort {target}: no such container port in {pod.workload}"
                    )
    for resource in resources:
        for container in containers(resource):
            own = {p.get("name") for p in container.get("ports", [])} | {
                p["containerPort"] for p in container.get("ports", [])
            }
            for kind, probe in probes(container):
                action = probe.get("httpGet") or probe.get("tcpSocket")
                if action and action["port"] not in own:
                    problems.append(
                        f"{name_of(resource)} {kind} port {action['port']}: not a port of container {container['name']}"
                    )
    for policy in by_kind(resources, "NetworkPolicy").values():
        problems += policy_port_problems(policy, pods)
    for ingress in by_kind(resources, "Ingress").values():
        for rule in ingress["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                problems += backend_problems(
                    f"Ingress {ingress['metadata']['name']} {path['path']}",
                    backend["name"],
                    backend["port"].get("name") or backend["port"].get("number"),
                    services,
                )
    for route in by_kind(resources, "HTTPRoute").values():
        for rule in route["spec"]["rules"]:
            for ref in rule.get("backendRefs", []):
                problems += backend_problems(
                    f"HTTPRoute {route['metadata']['name']}", ref["name"], ref.get("port"), services
                )
    return problems


def probes(container: Resource) -> Iterator[tuple[str, Resource]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in container:
            yield kind, container[kind]
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "httpGet" in pre_stop:
        yield "preStop", pre_stop


def backend_problems(
    where: str, service: str, port: int | str | None, services: Mapping[str, Resource]
) -> list[str]:
    if service not in services:
        return [f"{where}: backend Service {service} does not exist"]
    ports = services[service]["spec"]["ports"]
    if not any(port in (p.get("name"), p["port"]) for p in ports):
        return [f"{where}: Service {service} has no port {port}"]
    return []


def policy_port_problems(policy: Resource, pods: list[Pods]) -> list[str]:
    spec, where = policy["spec"], name_of(policy)
    own = selected(pods, match_labels(spec["podSelector"]))
    problems = []
    for rule in spec.get("ingress", []):
        for port in rule.get("ports", []):
            problems += [
                f"{where}: ingress port {port['port']} is not a port of {p.workload}"
                for p in own
                if p.port(port["port"]) is None
            ]
    for rule in spec.get("egress", []):
        for peer in rule.get("to", []):
            if "podSelector" not in peer or "namespaceSelector" in peer:
                continue
            for pod in selected(pods, match_labels(peer["podSelector"])):
                for port in rule.get("ports", []):
                    if pod.port(port["port"]) is None:
                        problems.append(
                            f"{where}: egress port {port['port']} is not a port of {pod.workload}"
                        )
    return problems


def secret_template_values() -> dict[str, dict[str, str]]:
    """{Secret name: {key: placeholder value}} of k8s/base/secrets.template.yaml."""
    return {s["metadata"]["name"]: s["stringData"] for s in load_documents(SECRETS_TEMPLATE)}


def secret_template_keys() -> dict[str, set[str]]:
    return {name: set(data) for name, data in secret_template_values().items()}


def container_variables(
    resource: Resource,
    container: Resource,
    config_maps: Mapping[str, Resource],
    secrets: Mapping[str, set[str]],
) -> tuple[set[str], list[str]]:
    """The variables a container gets, and the problems of the references that give them."""
    where = f"{name_of(resource)} container {container['name']}"
    names: set[str] = set()
    problems = []
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            if name not in config_maps:
                problems.append(f"{where}: envFrom ConfigMap {name} does not exist")
                continue
            names |= set(config_maps[name].get("data", {}))
        else:
            name = source["secretRef"]["name"]
            names |= secrets.get(name, set())
            if name not in secrets:
                problems.append(f"{where}: envFrom Secret {name} is not in {SECRETS_TEMPLATE.name}")
    for entry in container.get("env", []):
        names.add(entry["name"])
        ref = entry.get("valueFrom", {})
        if "secretKeyRef" in ref:
            s = ref["secretKeyRef"]
            if s["key"] not in secrets.get(s["name"], set()):
                problems.append(
                    f"{where}: {entry['name']} reads key {s['key']} of Secret {s['name']}, which {SECRETS_TEMPLATE.name} does not define"
                )
        if "configMapKeyRef" in ref:
            c = ref["configMapKeyRef"]
            if c["key"] not in config_maps.get(c["name"], {}).get("data", {}):
                problems.append(
                    f"{where}: {entry['name']} reads key {c['key']} of ConfigMap {c['name']}, which does not exist"
                )
    return names, problems


def env_problems(resources: list[Resource]) -> list[str]:
    """Each service's Deployment sets every variable the service needs in production and only
    variables the service reads; every ConfigMap and Secret key it refers to exists."""
    deployments = by_kind(resources, "Deployment")
    config_maps = by_kind(resources, "ConfigMap")
    secrets = secret_template_keys()
    problems = []
    for service in SERVICES:
        deployment = deployments.get(service)
        if deployment is None:
            problems.append(f"service {service} has no Deployment")
            continue
        [container] = [c for c in containers(deployment) if c["name"] == service]
        names, reference_problems = container_variables(deployment, container, config_maps, secrets)
        problems += reference_problems
        problems += variable_problems(f"Deployment {service}", service, names)
    return problems


def variable_problems(where: str, service: str, names: set[str]) -> list[str]:
    """`names` (the variables a service instance gets) against what the service reads."""
    unread = names - variables_read(service)
    missing = variables_needed_in_production(service) - names
    return [f"{where} sets {n}, which {service} does not read" for n in sorted(unread)] + [
        f"{where} does not set {n}, which {service} needs in production" for n in sorted(missing)
    ]
