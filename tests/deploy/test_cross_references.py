"""The manifests agree with each other, with the services' code and with the local gateway;
a broken reference fails with a message that names it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deploy.checks import all_problems
from deploy.checks.services import variables_needed_in_production
from deploy.kustomize import BASE, ENTRIES, OVERLAYS, Resource, by_kind, copied, render
from gateway.render import render_compose
from nocturnal.shared.config import ServiceSettings

# HPA bounds per rendering; dev's come from k8s/overlays/dev/autoscaling.yaml.
REPLICAS = {"complete": (3, 10), "prod": (3, 10), "dev": (1, 3)}
DRAIN_S = ServiceSettings.model_fields["shutdown_drain_s"].default
TIMEOUT_S = ServiceSettings.model_fields["shutdown_timeout_s"].default


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Resource]]:
    """The overlays, and "complete": the base with both public entries (Gateway API, Ingress)."""
    complete = render(BASE) + [r for entry in ENTRIES.values() for r in render(entry)]
    return {"complete": complete, **{name: render(path) for name, path in OVERLAYS.items()}}


@pytest.fixture(scope="module")
def nginx_config() -> str:
    return render_compose()


@pytest.mark.parametrize("name", list(REPLICAS))
def test_every_cross_reference_holds(
    rendered: dict[str, list[Resource]], nginx_config: str, name: str
) -> None:
    problems = all_problems(
        rendered[name], nginx_config, DRAIN_S, TIMEOUT_S, replicas=REPLICAS[name]
    )

    assert problems == []


def test_the_services_need_their_secrets_in_production() -> None:
    # What the env check holds the manifests to: a change here needs a look at k8s/ and compose.
    assert variables_needed_in_production("auth") == {
        "NOCTURNAL_ENV",
        "SIGNING_KEY_SECRET",
    }
    assert variables_needed_in_production("upload") == {
        "NOCTURNAL_ENV",
        "URL_SIGNING_SECRET",
        "PUBLIC_BASE_URL",
    }
    assert variables_needed_in_production("api") == {"NOCTURNAL_ENV"}
    assert variables_needed_in_production("ratelimit") == {"NOCTURNAL_ENV"}


def test_every_entry_is_checked_and_each_overlay_has_one(
    rendered: dict[str, list[Resource]],
) -> None:
    assert by_kind(rendered["complete"], "Ingress") and by_kind(rendered["complete"], "HTTPRoute")
    for name in OVERLAYS:
        entries = [k for k in ("Ingress", "HTTPRoute") if by_kind(rendered[name], k)]
        assert len(entries) == 1, name


def test_files_go_to_shared_storage_in_every_rendering(rendered: dict[str, list[Resource]]) -> None:
    for resources in rendered.values():
        assert by_kind(resources, "ConfigMap")["upload"]["data"]["STORAGE_BACKEND"] == "s3"


def test_ratelimit_counts_its_instances_through_its_headless_service(
    rendered: dict[str, list[Resource]],
) -> None:
    resources = rendered["prod"]
    peers = by_kind(resources, "ConfigMap")["ratelimit"]["data"]["RATELIMIT_PEERS_DNS"]
    service = by_kind(resources, "Service")[peers]

    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "ratelimit"}


@pytest.mark.parametrize("name", ["api", "auth", "upload"])
def test_rate_limit_callers_count_their_instances_through_a_headless_service(
    rendered: dict[str, list[Resource]], name: str
) -> None:
    resources = rendered["prod"]
    env = {e["name"]: e.get("value") for e in container(resources, name)["env"]}
    service = by_kind(resources, "Service")[env["INSTANCES_DNS"]]

    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}


# --- a broken reference is named ------------------------------------------------------------


def deployment(resources: list[Resource], name: str) -> dict[str, Any]:
    return by_kind(resources, "Deployment")[name]


def container(resources: list[Resource], name: str) -> dict[str, Any]:
    return deployment(resources, name)["spec"]["template"]["spec"]["containers"][0]


def rename_pod_label(resources: list[Resource]) -> None:
    deployment(resources, "api")["spec"]["template"]["metadata"]["labels"][
        "app.kubernetes.io/name"
    ] = "apii"


def rename_container_port(resources: list[Resource]) -> None:
    container(resources, "auth")["ports"][0]["name"] = "web"


def misspell_a_variable(resources: list[Resource]) -> None:
    by_kind(resources, "ConfigMap")["nocturnal-common"]["data"]["SHUTDOWN_DRAIN_SECONDS"] = "5"


def drop_a_secret(resources: list[Resource]) -> None:
    env = container(resources, "auth")["env"]
    env[:] = [e for e in env if e["name"] != "SIGNING_KEY_SECRET"]


def read_a_missing_secret_key(resources: list[Resource]) -> None:
    env = container(resources, "upload")["env"]
    next(e for e in env if e["name"] == "URL_SIGNING_SECRET")["valueFrom"]["secretKeyRef"][
        "key"
    ] = "URL_SECRET"


def remove_an_hpa(resources: list[Resource]) -> None:
    resources.remove(by_kind(resources, "HorizontalPodAutoscaler")["upload"])


def scale_on_memory_everywhere(resources: list[Resource]) -> None:
    hpa = by_kind(resources, "HorizontalPodAutoscaler")["api"]
    hpa["spec"]["metrics"].append(
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    )


def misspell_a_probe_path(resources: list[Resource]) -> None:
    container(resources, "api")["readinessProbe"]["httpGet"]["path"] = "/health/readyy"


def route_uploads_to_api(resources: list[Resource]) -> None:
    ingress = by_kind(resources, "Ingress")["nocturnal-uploads"]
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "api"


def drop_an_egress_rule(resources: list[Resource]) -> None:
    policy = by_kind(resources, "NetworkPolicy")["api"]
    policy["spec"]["egress"] = [
        rule
        for rule in policy["spec"]["egress"]
        if rule["to"][0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
        != "upload"
    ]


def open_redis_to_api(resources: list[Resource]) -> None:
    policy = by_kind(resources, "NetworkPolicy")["redis"]
    policy["spec"]["ingress"][0]["from"].append(
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "api"}}}
    )
    by_kind(resources, "NetworkPolicy")["api"]["spec"]["egress"].append(
        {
            "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}],
            "ports": [{"protocol": "TCP", "port": "redis"}],
        }
    )


def shorten_the_grace_period(resources: list[Resource]) -> None:
    deployment(resources, "ratelimit")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ] = 25


def set_replicas(resources: list[Resource]) -> None:
    deployment(resources, "auth")["spec"]["replicas"] = 3


def shrink_the_upload_limit(resources: list[Resource]) -> None:
    by_kind(resources, "Ingress")["nocturnal-uploads"]["metadata"]["annotations"][
        "nginx.org/client-max-body-size"
    ] = "1m"


BREAKAGES: dict[str, tuple[Callable[[list[Resource]], None], str]] = {
    "pod label": (
        rename_pod_label,
        "Deployment api: selector app.kubernetes.io/name=api does not match its pod template",
    ),
    "container port": (
        rename_container_port,
        "Service auth targetPort http: no such container port in Deployment/auth",
    ),
    "variable typo": (
        misspell_a_variable,
        "Deployment auth sets SHUTDOWN_DRAIN_SECONDS, which auth does not read",
    ),
    "missing secret": (
        drop_a_secret,
        "Deployment auth does not set SIGNING_KEY_SECRET, which auth needs in production",
    ),
    "secret key": (
        read_a_missing_secret_key,
        "Deployment upload container upload: URL_SIGNING_SECRET reads key URL_SECRET of Secret upload-secrets, which secrets.template.yaml does not define",
    ),
    "hpa": (remove_an_hpa, "Deployment upload has no HorizontalPodAutoscaler"),
    "memory target": (
        scale_on_memory_everywhere,
        "HorizontalPodAutoscaler api targets {'cpu': 70, 'memory': 80}, expected {'cpu': 70}",
    ),
    "probe path": (
        misspell_a_probe_path,
        "Deployment api readinessProbe path /health/readyy is not a route of api",
    ),
    "ingress backend": (route_uploads_to_api, "Ingress sends POST /api/uploads (upload) to api"),
    "denied call": (
        drop_an_egress_rule,
        "api -> upload TCP/8000 is a call of the design that the NetworkPolicies deny",
    ),
    "extra flow": (open_redis_to_api, "api -> redis TCP/6379 is allowed but no part of the design"),
    "grace period": (
        shorten_the_grace_period,
        "Deployment ratelimit: terminationGracePeriodSeconds 25 <= preStop 5 + drain 5.0 + shutdown 20.0",
    ),
    "replicas": (set_replicas, "Deployment auth sets replicas, which its HPA owns"),
    "body limit": (
        shrink_the_upload_limit,
        "Ingress nocturnal-uploads allows bodies of 1m, the gateway 21m",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_reference_fails_naming_it(
    rendered: dict[str, list[Resource]], nginx_config: str, breakage: str
) -> None:
    break_it, message = BREAKAGES[breakage]
    resources = copied(rendered["complete"])
    break_it(resources)

    problems = all_problems(resources, nginx_config, DRAIN_S, TIMEOUT_S)

    assert message in problems
