"""Typed service settings read from environment variables, validated at start (fail fast)."""

from __future__ import annotations

import json
import socket
import sys
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from nocturnal.shared.problems import error_message
from nocturnal.shared.ratelimit.policies import PolicyLimits, PolicyName

PLACEHOLDER_SECRET_PREFIX = "dev-insecure-"


class Environment(StrEnum):
    """Deployment environment; placeholder secrets are accepted only in development and test."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


# validate_default: defaults go through the validators too (a placeholder secret is a default).
SETTINGS_CONFIG = SettingsConfigDict(
    extra="ignore", frozen=True, case_sensitive=False, validate_default=True
)


class ServiceSettings(BaseSettings):
    """Settings every service shares. Environment variable = upper-case field name.

    Subclasses add their own fields. Any `SecretStr` field whose value starts with
    `dev-insecure-` is refused when `NOCTURNAL_ENV=production`.

    Graceful shutdown (seconds): after SIGTERM the service keeps serving for
    `SHUTDOWN_DRAIN_S` with readiness 503, then gets at most `SHUTDOWN_TIMEOUT_S` to finish
    in-flight requests and event handlers, flush the outbox and close its connections. The
    platform's grace period (compose `stop_grace_period`, Kubernetes
    `terminationGracePeriodSeconds` after the preStop hook) must exceed their sum.

    Overload: at most `MAX_IN_FLIGHT` requests are handled at once per instance; the next is
    answered 503 with `Retry-After` at once instead of waiting (probes and `/metrics` excepted).

    Traces are exported over OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` when it is set (the
    exporter reads the other standard `OTEL_EXPORTER_OTLP_*` variables itself); unset, tracing
    is off (`nocturnal.shared.tracing`).
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
    max_in_flight: int = Field(default=256, ge=1, le=100_000)
    otel_exporter_otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://")

    @property
    def resolved_log_format(self) -> Literal["json", "console"]:
        """Console output in development, one JSON object per line elsewhere (unless set)."""
        if self.log_format is not None:
            return self.log_format
        return "console" if self.env is Environment.DEVELOPMENT else "json"

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_placeholder_secret(cls, value: Any, info: ValidationInfo) -> Any:
        # A field validator, not a model one: it runs beside every other field's checks, so
        # a placeholder is listed with all other problems instead of after they are fixed.
        if (
            isinstance(value, SecretStr)
            and info.data.get("env") is Environment.PRODUCTION
            and value.get_secret_value().startswith(PLACEHOLDER_SECRET_PREFIX)
        ):
            raise ValueError(
                f"a development placeholder ({PLACEHOLDER_SECRET_PREFIX}...) is refused in"
                " production; set a real secret"
            )
        return value

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # Fields validate in declaration order; the placeholder check needs `env` first.
        names = list(cls.model_fields)
        for name, field in cls.model_fields.items():
            if field.annotation is SecretStr and names.index(name) < names.index("env"):
                raise TypeError(f"{cls.__name__}.{name} is a secret declared before env")


class MongoSettings(BaseSettings):
    """MongoDB connection; each service has its own database (DESIGN §4)."""

    model_config = SETTINGS_CONFIG

    mongo_url: str = "mongodb://mongo:27017/?replicaSet=rs0"
    mongo_database: str = ""


def _json_object(value: Any) -> Any:
    # Decoded by the validator rather than by the settings source, so malformed JSON is a clear
    # configuration error like any other instead of a traceback.
    return json.loads(value) if isinstance(value, str) else value


RatelimitPolicies = Annotated[
    dict[PolicyName, PolicyLimits], NoDecode, BeforeValidator(_json_object)
]
"""`RATELIMIT_POLICIES`: a JSON object `{name: {window_s, normal, strict}}` replacing or adding
policies of the shared defaults (read by the ratelimit service and its callers alike)."""


class PeerSettings(BaseSettings):
    """Peer service base URLs (default to DNS names: Kubernetes Service / compose service), and
    what the rate-limit client's fallback needs to keep the service's contract.

    The fallback decides with the service's own policies (`GET /v1/policies`, refreshed every
    `RATELIMIT_POLICIES_REFRESH_S`; before the first answer, `RATELIMIT_POLICIES`, the same
    configuration the service reads) and allows `ceil(limit / live instances)` per instance:
    the instances of this service are counted through `INSTANCES_DNS` (a headless Service
    selecting them, e.g. `api-peers`) or, without a name, are `INSTANCES` (set by whoever
    starts them, e.g. the devstack). `RATELIMIT_LEASE_MS` is the lifetime of a quota lease
    (0: no leases; see `RateLimitClient`). `RATELIMIT_HEDGE_FLOOR_S` is the least time a check
    waits for the service before deciding locally (the hedge deadline follows the service's
    latency between it and `RATELIMIT_TIMEOUT_S`; set it to the timeout to turn hedging off).
    """

    model_config = SETTINGS_CONFIG

    auth_url: str = "http://auth"
    ratelimit_url: str = "http://ratelimit"
    upload_url: str = "http://upload"
    ratelimit_timeout_s: float = Field(default=0.25, gt=0, le=5)
    ratelimit_policies: RatelimitPolicies = Field(default_factory=dict)
    ratelimit_policies_refresh_s: float = Field(default=15.0, gt=0, le=3600)
    instances_dns: str | None = None
    instances: int = Field(default=1, ge=1, le=1000)
    ratelimit_lease_ms: int = Field(default=1000, ge=0, le=5000)
    ratelimit_hedge_floor_s: float = Field(default=0.02, gt=0, le=5)


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Read `cls` from the environment; on invalid config print every problem and exit(2).

    Every invalid variable is listed at once, placeholder secrets included, each named as
    written: the environment variable, then any keys inside its JSON value. Each problem is one
    line on stderr (a log collector keeps it whole), e.g.
    `invalid configuration (AuthSettings): SIGNING_KEY_SECRET: a development placeholder ...`
    or `invalid configuration (RatelimitSettings): RATELIMIT_POLICIES.auth.window_s: ...`.

    Raises:
        SystemExit: with status 2 after one line per problem (or the settings source's error).
    """
    prefix = f"invalid configuration ({cls.__name__}):"
    try:
        return cls()
    except SettingsError as exc:  # e.g. malformed JSON in a complex-valued variable
        print(f"{prefix} {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValidationError as exc:
        lines = [f"{prefix} {_variable(error)}: {error_message(error)}" for error in exc.errors()]
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def _variable(error: ErrorDetails) -> str:
    """The variable as the user wrote it: its name, then keys inside its JSON value as given
    (`RATELIMIT_POLICIES.auth.window_s`)."""
    if not error["loc"]:
        return "(settings)"
    name, *inside = error["loc"]
    return ".".join([str(name).upper(), *map(str, inside)])
