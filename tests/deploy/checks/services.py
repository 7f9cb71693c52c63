"""The services' own view of a deployment: the environment variables they read (from their
settings classes) and the routes they serve (from their app factories)."""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

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
