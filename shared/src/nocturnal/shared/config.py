"""Typed service settings read from environment variables, validated at start (fail fast)."""

from __future__ import annotations

import socket
import sys
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

PLACEHOLDER_SECRET_PREFIX = "dev-insecure-"


class Environment(StrEnum):
    """Deployment environment; placeholder secrets are accepted only in development and test."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


SETTINGS_CONFIG = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)


class ServiceSettings(BaseSettings):
    """Settings every service shares. Environment variable = upper-case field name.

    Subclasses add their own fields. Any `SecretStr` field whose value starts with
    `dev-insecure-` is refused when `NOCTURNAL_ENV=production`.

    Graceful shutdown (seconds): after SIGTERM the service keeps serving for
    `SHUTDOWN_DRAIN_S` with readiness 503, then gets at most `SHUTDOWN_TIMEOUT_S` to finish
    in-flight requests and event handlers, flush the outbox and close its connections. The
    platform's grace period (compose `stop_grace_period`, Kubernetes
    `terminationGracePeriodSeconds` after the preStop hook) must exceed their sum.
    """

    model_config = SETTINGS_CONFIG

    env: Environment = Field(default=Environment.DEVELOPMENT, validation_alias="NOCTURNAL_ENV")
    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=1, le=65535)
    instance_name: str = Field(default_factory=socket.gethostname, min_length=1)
    version: str = "0.1.0"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] | None = None
    amqp_url: str = "amqp://guest:guest@rabbitmq:5672/"
    events_exchange: str = Field(default="nocturnal.events", min_length=1)
    client_ip_header: str = "X-Real-IP"
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)
    peer_timeout_s: float = Field(default=2.0, gt=0, le=30)
    shutdown_drain_s: float = Field(default=5.0, ge=0, le=120)
    shutdown_timeout_s: float = Field(default=20.0, gt=0, le=300)

    @property
    def resolved_log_format(self) -> Literal["json", "console"]:
        """Console output in development, one JSON object per line elsewhere (unless set)."""
        if self.log_format is not None:
            return self.log_format
        return "console" if self.env is Environment.DEVELOPMENT else "json"

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.env is not Environment.PRODUCTION:
            return self
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value().startswith(
                PLACEHOLDER_SECRET_PREFIX
            ):
                raise ValueError(f"{name.upper()} is a development placeholder; set a real secret")
        return self


class MongoSettings(BaseSettings):
    """MongoDB connection; each service has its own database (DESIGN §4)."""

    model_config = SETTINGS_CONFIG

    mongo_url: str = "mongodb://mongo:27017/?replicaSet=rs0"
    mongo_database: str = ""


class PeerSettings(BaseSettings):
    """Peer service base URLs; default to DNS names (Kubernetes Service / compose service)."""

    model_config = SETTINGS_CONFIG

    auth_url: str = "http://auth"
    ratelimit_url: str = "http://ratelimit"
    upload_url: str = "http://upload"
    ratelimit_timeout_s: float = Field(default=0.25, gt=0, le=5)


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Read `cls` from the environment; on invalid config print every problem and exit(2).

    Each problem is one line on stderr, e.g.
    `invalid configuration (AuthSettings): SIGNING_KEY_SECRET is a development placeholder; ...`
    or `invalid configuration (ApiSettings): PORT: Input should be a valid integer, ...`.

    Raises:
        SystemExit: with status 2 after printing the problems.
    """
    prefix = f"invalid configuration ({cls.__name__}):"
    try:
        return cls()
    except SettingsError as exc:  # e.g. malformed JSON in a complex-valued variable
        print(f"{prefix} {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValidationError as exc:
        lines = [f"{prefix} {_problem(error)}" for error in exc.errors()]
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def _problem(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    where = ".".join(str(part) for part in error["loc"]).upper()
    return f"{where}: {message}" if where else message
