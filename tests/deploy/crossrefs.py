"""Cross-reference checks over rendered manifests: each returns the problems it finds, every
one naming the broken reference (empty when all is consistent)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from deploy.kustomize import (
    BASE,
    Resource,
    by_kind,
    containers,
    load_documents,
    pod_spec,
    pod_template,
)
from gateway.render import public_locations
from nocturnal.api.app import create_app as create_api
from nocturnal.api.settings import ApiSettings
from nocturnal.auth.app import create_app as create_auth
from nocturnal.auth.settings import AuthSettings
from nocturnal.ratelimit.app import create_app as create_ratelimit
from nocturnal.ratelimit.settings import RatelimitSettings
from nocturnal.shared.config import PLACEHOLDER_SECRET_PREFIX, Environment
from nocturnal.upload.app import create_app as create_upload
from nocturnal.upload.settings import UploadSettings

SERVICES = ("auth", "api", "upload", "ratelimit")
SETTINGS: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "api": ApiSettings,
    "upload": UploadSettings,
    "ratelimit": RatelimitSettings,
}
APPS = {
    "auth": create_auth,
    "api": create_api,
    "upload": create_upload,
    "ratelimit": create_ratelimit,
}
# Read by a library rather than by the settings class: botocore's credential chain.
LIBRARY_VARIABLES = {"upload": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}}
# Where memory tracks load (docs/scaling.md): an upload in flight buffers an S3 part.
MEMORY_SCALED = {"upload"}
SECRETS_TEMPLATE = BASE / "secrets.template.yaml"
LABEL = "app.kubernetes.io/name"


# --- the services' own view: environment variables and routes -------------------------------


def variable(name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    return alias.upper() if isinstance(alias, str) else name.upper()


def variables_read(service: str) -> set[str]:
    """Every environment variable the service reads."""
    fields = SETTINGS[service].model_fields
    return {variable(n, f) for n, f in fields.items()} | LIBRARY_VARIABLES.get(service, set())


def development_only_default(info: FieldInfo) -> bool:
    """A default that is wrong in production: a placeholder secret, a loopback address, or the
    development environment itself."""
    default = info.get_default(call_default_factory=False)
    if isinstance(default, SecretStr):
        return default.get_secret_value().startswith(PLACEHOLDER_SECRET_PREFIX)
    if default is Environment.DEVELOPMENT:
        return True
    return isinstance(default, str) and any(h in default for h in ("localhost", "127.0.0.1"))


def variables_needed_in_production(service: str) -> set[str]:
    """Variables without a default, or whose default only suits development."""
    fields = SETTINGS[service].model_fields
    return {
        variable(name, info)
        for name, info in fields.items()
        if info.is_required() or development_only_default(info)
    }


def service_routes(service: str) -> list[tuple[str, str]]:
    """(method, path template) of every route the service's app serves."""
    app: web.Application = APPS[service](SETTINGS[service]())  # type: ignore[operator]
    routes = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and route.method != "HEAD":
            routes.append((route.method, str(path)))
    return routes


def sample_path(template: str) -> str:
    """A concrete path matching an aiohttp path template (`{id}`, `{key:.+}`)."""
    return re.sub(r"\{[^}:]+(:[^}]*)?\}", lambda m: "a/b" if m.group(1) else "x1", template)


def is_public(path: str) -> bool:
    return path.startswith(("/api/", "/.well-known/"))


# --- pods and their selection ---------------------------------------------------------------


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


# --- selectors and references ---------------------------------------------------------------


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


# --- ports ----------------------------------------------------------------------------------


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


# --- environment ----------------------------------------------------------------------------


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


# --- autoscaling, disruption, pod shape -----------------------------------------------------


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


# --- routing: the local gateway, the Ingress and the HTTPRoute -------------------------------


def nginx_route(locations: list[tuple[str, str, str]], path: str) -> str:
    """The upstream (or status) nginx picks for `path`: exact, then regex over the longest
    prefix (no `^~` locations here)."""
    for location, target, _ in locations:
        if location.startswith("= ") and location[2:] == path:
            return target
    prefixes = [(loc, t) for loc, t, _ in locations if not loc.startswith(("=", "~"))]
    longest = max(
        (lt for lt in prefixes if path.startswith(lt[0])), key=lambda lt: len(lt[0]), default=None
    )
    for location, target, _ in locations:
        if location.startswith("~ ") and re.search(location[2:], path):
            return target
    return longest[1] if longest else "404"


def prefix_matches(prefix: str, path: str) -> bool:
    """Kubernetes' element-wise prefix match (Ingress Prefix, HTTPRoute PathPrefix)."""
    prefix = prefix.rstrip("/")
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def best_match(candidates: list[tuple[str, str, str]], path: str) -> str | None:
    """(type, value, service) candidates; Exact wins, then the longest prefix."""
    exact = [s for t, v, s in candidates if t == "Exact" and v == path]
    if exact:
        return exact[0]
    prefixes = [
        (len(v.rstrip("/")), s)
        for t, v, s in candidates
        if t in ("Prefix", "PathPrefix") and prefix_matches(v, path)
    ]
    return max(prefixes)[1] if prefixes else None


def ingress_candidates(resources: list[Resource]) -> list[tuple[str, str, str]]:
    return [
        (p["pathType"], p["path"], p["backend"]["service"]["name"])
        for ingress in by_kind(resources, "Ingress").values()
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]


def route_candidates(resources: list[Resource]) -> list[tuple[str, str, str]]:
    return [
        (m["path"]["type"], m["path"]["value"], ref["name"])
        for route in by_kind(resources, "HTTPRoute").values()
        for rule in route["spec"]["rules"]
        for m in rule.get("matches", [])
        for ref in rule["backendRefs"]
    ]


def routing_problems(resources: list[Resource], nginx_config: str) -> list[str]:
    """Every public route of every service goes to that service through the local gateway,
    the Ingress and the HTTPRoute alike; no internal route is reachable through any of them."""
    locations = public_locations(nginx_config)
    entries = {"Ingress": ingress_candidates(resources), "HTTPRoute": route_candidates(resources)}
    services = set(by_kind(resources, "Service"))
    problems = []
    for service in SERVICES:
        for method, template in service_routes(service):
            path = sample_path(template)
            wanted = service if is_public(path) else None
            gateway = nginx_route(locations, path)
            if (gateway if gateway in SERVICES else None) != wanted:
                problems.append(f"local gateway sends {method} {path} ({service}) to {gateway}")
            for kind, candidates in entries.items():
                chosen = best_match(candidates, path)
                if chosen != wanted:
                    problems.append(
                        f"{kind} sends {method} {path} ({service}) to {chosen or 'nothing'}"
                    )
                elif chosen is not None and chosen not in services:
                    problems.append(
                        f"{kind} sends {path} to Service {chosen}, which does not exist"
                    )
    return problems


def body_limit_problems(resources: list[Resource], nginx_config: str) -> list[str]:
    """The Ingresses carry the local gateway's body limits: 21m for uploads, 1m elsewhere."""
    upload_location = next(
        body for _, target, body in public_locations(nginx_config) if target == "upload"
    )
    upload_limit = re.search(r"client_max_body_size (\w+);", upload_location)
    default_limit = re.search(r"\n    client_max_body_size (\w+);", nginx_config)
    assert upload_limit and default_limit, "the gateway template lost its body limits"
    problems = []
    for ingress in by_kind(resources, "Ingress").values():
        backends = {
            p["backend"]["service"]["name"]
            for r in ingress["spec"]["rules"]
            for p in r["http"]["paths"]
        }
        wanted = upload_limit.group(1) if backends == {"upload"} else default_limit.group(1)
        if "upload" in backends and len(backends) > 1:
            problems.append(
                f"Ingress {ingress['metadata']['name']} mixes uploads with other routes"
            )
        given = ingress["metadata"].get("annotations", {}).get("nginx.org/client-max-body-size")
        if given != wanted:
            problems.append(
                f"Ingress {ingress['metadata']['name']} allows bodies of {given}, the gateway {wanted}"
            )
    return problems


# --- network flows --------------------------------------------------------------------------

# Namespaces outside Nocturnal's, as NetworkPolicies recognise them by their labels.
OUTSIDE = {
    "gateway": {"nocturnal.io/gateway": "true"},
    "monitoring": {"nocturnal.io/monitoring": "true"},
    "kube-dns": {"kubernetes.io/metadata.name": "kube-system"},
}
KUBE_DNS = Pods("kube-dns", {"k8s-app": "kube-dns"}, (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")))
S3 = Pods("s3", {}, (("https", 443, "TCP"),))
S3_ADDRESS = ipaddress.ip_address("203.0.113.10")  # an address outside the cluster

Flow = tuple[str, str, str, int]  # (from, to, protocol, port)


def design_flows(workloads: Iterable[str]) -> set[Flow]:
    """Every connection the design makes (DESIGN.md's table, §5 metrics, DNS)."""
    http_calls = {
        ("gateway", "auth"),
        ("gateway", "api"),
        ("gateway", "upload"),
        ("api", "auth"),
        ("api", "upload"),
        ("api", "ratelimit"),
        ("upload", "auth"),
        ("upload", "ratelimit"),
        ("auth", "ratelimit"),
    } | {("monitoring", s) for s in SERVICES}
    flows = {(a, b, "TCP", 8000) for a, b in http_calls}
    flows |= {(s, "mongo", "TCP", 27017) for s in ("auth", "api", "upload", "mongo", "mongo-init")}
    flows |= {(s, "rabbitmq", "TCP", 5672) for s in SERVICES}
    flows |= {("ratelimit", "redis", "TCP", 6379), ("upload", "s3", "TCP", 443)}
    flows |= {(w, "kube-dns", proto, 53) for w in workloads for proto in ("UDP", "TCP")}
    return flows


def allowed_flows(resources: list[Resource]) -> set[Flow]:
    """Every (from, to, protocol, port) the NetworkPolicies let through, both ends considered."""
    pods = all_pods(resources)
    policies = [p["spec"] for p in by_kind(resources, "NetworkPolicy").values()]
    sources = [(p.name, p.labels, None) for p in pods] + [
        (n, {}, n) for n in ("gateway", "monitoring")
    ]
    targets = [(p, None) for p in pods] + [(KUBE_DNS, "kube-dns"), (S3, "s3")]
    flows = set()
    for source, source_labels, source_ns in sources:
        for target, target_ns in targets:
            if source_ns is not None and target_ns is not None:
                continue  # neither end is Nocturnal's: no policy here applies
            for name, number, protocol in target.ports:
                port = (name, number, protocol)
                if source_ns is None and not _allows(
                    policies, "Egress", source_labels, target, target_ns, port
                ):
                    continue
                if target_ns is None and not _allows(
                    policies,
                    "Ingress",
                    target.labels,
                    _as_pods(source, source_labels),
                    source_ns,
                    port,
                    own=target,
                ):
                    continue
                flows.add((source, target.name, protocol, number))
    return flows


def _as_pods(name: str, labels: Mapping[str, str]) -> Pods:
    return Pods(name, labels, ())


def _allows(
    policies: list[Resource],
    direction: str,
    labels: Mapping[str, str],
    peer: Pods,
    peer_namespace: str | None,
    port: tuple[str, int, str],
    own: Pods | None = None,
) -> bool:
    """Whether the policies selecting a pod with `labels` let `direction` traffic with `peer`
    on `port` through (a pod no policy of that direction selects is unrestricted)."""
    relevant = [
        p
        for p in policies
        if direction in p["policyTypes"] and selects(match_labels(p["podSelector"]), labels)
    ]
    if not relevant:
        return True
    field, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in relevant:
        for rule in policy.get(field, []):
            if not _port_allowed(rule.get("ports"), port):
                continue
            if peers not in rule or any(
                _peer_matches(x, peer, peer_namespace) for x in rule[peers]
            ):
                return True
    return False


def _port_allowed(ports: list[Resource] | None, port: tuple[str, int, str]) -> bool:
    if not ports:
        return True
    name, number, protocol = port
    return any(p.get("protocol", "TCP") == protocol and p["port"] in (name, number) for p in ports)


def _peer_matches(peer: Resource, pods: Pods, namespace: str | None) -> bool:
    if "ipBlock" in peer:
        block = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        excepted = any(
            S3_ADDRESS in ipaddress.ip_network(c) for c in peer["ipBlock"].get("except", [])
        )
        return namespace == "s3" and S3_ADDRESS in block and not excepted
    if "namespaceSelector" in peer:
        wanted = match_labels(peer["namespaceSelector"])
        if namespace not in OUTSIDE or not selects(wanted, OUTSIDE[namespace]):
            return False
        return selects(match_labels(peer.get("podSelector")), pods.labels)
    return namespace is None and selects(match_labels(peer["podSelector"]), pods.labels)


def flow_problems(resources: list[Resource]) -> list[str]:
    """The NetworkPolicies allow every connection of the design and nothing else."""
    workloads = {p.name for p in all_pods(resources)}
    expected, allowed = design_flows(workloads), allowed_flows(resources)
    denied = [
        f"{a} -> {b} {proto}/{port} is a call of the design that the NetworkPolicies deny"
        for a, b, proto, port in sorted(expected - allowed)
    ]
    extra = [
        f"{a} -> {b} {proto}/{port} is allowed but no part of the design"
        for a, b, proto, port in sorted(allowed - expected)
    ]
    return denied + extra


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
