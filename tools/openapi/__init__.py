"""The gateway's public API as one OpenAPI 3.1 document (`docs/openapi.json`), generated from the
services' route tables, and a Python client generated from that document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nocturnal.api.routes import ROUTES as API_ROUTES
from nocturnal.auth.routes import ROUTES as AUTH_ROUTES
from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.openapi import openapi_document
from nocturnal.shared.problems import PROBLEM_TYPES
from nocturnal.upload.routes import ROUTES as UPLOAD_ROUTES

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
LOCAL_GATEWAY = "http://localhost:8080"
GATEWAY_STATUSES = (502, 504)
"""What the gateway itself may answer on any route (besides refusing malformed requests)."""

DESCRIPTION = """\
Nocturnal, a marketplace of healthcare duty shifts: hospital admins post duties, doctors and
nurses apply, admins accept them; everyone keeps files (profile photos, documents).

Every error is `application/problem+json` (RFC 9457); its `type` and `title` follow from the
status. Every response carries `X-Request-ID`. Lists take `?limit=` (1-100) and `?cursor=` and
answer `{items, next_cursor}`. Signed-in routes take `Authorization: Bearer <access_token>`.
Besides the answers listed per operation, the gateway refuses malformed requests on any route
(400, 405, 414, 431, 505) and answers 502 or 504 when the service behind a route does not.
Generated from the services' route tables: do not edit by hand (`make openapi`)."""


def gateway_document() -> dict[str, Any]:
    """The OpenAPI document of every route the gateway serves (auth, api, upload)."""
    return openapi_document(
        [AUTH_ROUTES, API_ROUTES, UPLOAD_ROUTES],
        title="Nocturnal",
        version=str(ServiceSettings.model_fields["version"].default),
        description=DESCRIPTION,
        public_only=True,
        servers=[{"url": LOCAL_GATEWAY, "description": "the local gateway of `make run`"}],
        every_route={status: PROBLEM_TYPES[status].when for status in GATEWAY_STATUSES},
    )


def render(document: dict[str, Any]) -> str:
    """The document as it is checked in: indented JSON, keys in their generated order."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
