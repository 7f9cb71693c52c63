"""NetworkPolicies evaluated: the connections they let through, against the design's."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from deploy.checks.pods import Pods, all_pods, match_labels, selects
from deploy.checks.services import SERVICES
from deploy.kustomize import (
    Resource,
    by_kind,
)

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
