"""Routing: the local gateway (nginx template), the Ingress and the HTTPRoute send every public
route of every service to that service, and nothing internal anywhere."""

from __future__ import annotations

import re

from deploy.checks.services import SERVICES, is_public, sample_path, service_routes
from deploy.kustomize import (
    Resource,
    by_kind,
)
from gateway.render import public_locations


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
    entries = {kind: candidates for kind, candidates in entries.items() if by_kind(resources, kind)}
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
