"""A strict JSON Schema of the Gateway API v1 fields Nocturnal uses (Gateway, HTTPRoute).

kubernetes-validate knows the core API only, and the Gateway API's own CRD schemas are not
available offline here. This schema is written from the Gateway API v1 reference (standard
channel): every object lists its fields with `additionalProperties: false`, so a misspelt or
misplaced field fails like `kubernetes-validate --strict` fails for core objects. Fields the
manifests do not use are left out on purpose: using one makes this schema fail until it is
added here, from the reference, with its constraints.
"""

from __future__ import annotations

from typing import Any

import jsonschema

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"

STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


NAME = {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN}
METADATA = _closed(
    {
        "name": NAME,
        "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
    ["name"],
)
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
SECRET_REF = _closed(
    {
        "group": {"type": "string"},
        "kind": {"type": "string"},
        "name": NAME,
        "namespace": {"type": "string", "pattern": DNS_LABEL},
    },
    ["name"],
)
LISTENER = _closed(
    {
        "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 253},
        "hostname": {"type": "string", "pattern": HOSTNAME, "maxLength": 253},
        "port": PORT,
        "protocol": {
            "type": "string",
            "pattern": r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(/.+)?$",
        },
        "tls": _closed(
            {
                "mode": {"enum": ["Terminate", "Passthrough"]},
                "certificateRefs": {"type": "array", "maxItems": 64, "items": SECRET_REF},
            }
        ),
        "allowedRoutes": _closed(
            {"namespaces": _closed({"from": {"enum": ["All", "Selector", "Same"]}})}
        ),
    },
    ["name", "port", "protocol"],
)
GATEWAY = _closed(
    {
        "apiVersion": {"const": "gateway.networking.k8s.io/v1"},
        "kind": {"const": "Gateway"},
        "metadata": METADATA,
        "spec": _closed(
            {
                "gatewayClassName": {"type": "string", "minLength": 1, "maxLength": 253},
                "listeners": {"type": "array", "minItems": 1, "maxItems": 64, "items": LISTENER},
            },
            ["gatewayClassName", "listeners"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)
PATH_MATCH = _closed(
    {
        "type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]},
        "value": {"type": "string", "maxLength": 1024, "pattern": "^/"},
    }
)
BACKEND_REF = _closed(
    {
        "group": {"type": "string"},
        "kind": {"type": "string"},
        "name": NAME,
        "namespace": {"type": "string", "pattern": DNS_LABEL},
        "port": PORT,
        "weight": {"type": "integer", "minimum": 0, "maximum": 1000000},
    },
    ["name"],
)
ROUTE_RULE = _closed(
    {
        "matches": {"type": "array", "maxItems": 64, "items": _closed({"path": PATH_MATCH})},
        "backendRefs": {"type": "array", "maxItems": 16, "items": BACKEND_REF},
        "timeouts": _closed(
            {
                "request": {"type": "string", "pattern": DURATION},
                "backendRequest": {"type": "string", "pattern": DURATION},
            }
        ),
    }
)
PARENT_REF = _closed(
    {
        "group": {"type": "string"},
        "kind": {"type": "string"},
        "namespace": {"type": "string", "pattern": DNS_LABEL},
        "name": NAME,
        "sectionName": {"type": "string", "pattern": DNS_LABEL},
        "port": PORT,
    },
    ["name"],
)
HTTP_ROUTE = _closed(
    {
        "apiVersion": {"const": "gateway.networking.k8s.io/v1"},
        "kind": {"const": "HTTPRoute"},
        "metadata": METADATA,
        "spec": _closed(
            {
                "parentRefs": {"type": "array", "maxItems": 32, "items": PARENT_REF},
                "hostnames": {
                    "type": "array",
                    "maxItems": 16,
                    "items": {"type": "string", "pattern": HOSTNAME, "maxLength": 253},
                },
                "rules": {"type": "array", "maxItems": 16, "items": ROUTE_RULE},
            }
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)
SCHEMAS = {"Gateway": GATEWAY, "HTTPRoute": HTTP_ROUTE}


def validate(resource: dict[str, Any]) -> None:
    """Validate a Gateway or HTTPRoute strictly.

    Raises:
        jsonschema.ValidationError: naming the offending field.
        KeyError: another kind.
    """
    jsonschema.Draft202012Validator(SCHEMAS[resource["kind"]]).validate(resource)
