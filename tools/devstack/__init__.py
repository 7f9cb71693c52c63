"""Local platform runner behind `make run`: backing servers, service instances, nginx gateway.

`python -m tools.devstack [--auth N --api N --upload N --ratelimit N --gateway-port P --moto]`
runs every service behind nginx until Ctrl-C. Tests, the demo, benchmarks and drain tests start
stacks and servers through the public API below, importable from `tools.devstack` itself (the
modules are how it is organised, not what callers import):

- The stack (`stack`): `Stack(StackSettings(...))`, a context manager (or `start()`/`stop()`)
  with `base_url`, `service_url(service)`, `service_env(...)`, `servers`, `instances`,
  `exited()` and `describe()`; `StackSettings` says what to run (instance counts, gateway port,
  0 for any free one; run and log dirs; server URLs, None meaning "find or start one"; events
  exchange; S3 or moto; extra environment). Stops only what it started, with SIGINT (the
  services skip their drain). While it runs, the gateway follows the instances' readiness
  (`sync_gateway()` every `READINESS_POLL_S`; an instance answering anything but 200, or
  `READINESS_SILENCE_LIMIT` probes in a row unanswered, is left out of its upstream).
- Backing servers (`servers`): `start_secantus`, `start_moto`, `ensure_mongo`, `ensure_redis`,
  `ensure_rabbitmq` return a `Server` (`role`, `url`, `origin`, `child`; `stop()` stops it only
  if it was started here); `create_bucket`; `DEFAULT_REDIS_URL`, `DEFAULT_AMQP_URL`.
- Probes (`probes`): `redis_answers`, `amqp_answers`, `mongo_answers`, `http_ok`,
  `http_answer`, `tcp_answers`, `free_ports`, `port_is_free`, `redact`.
- Processes (`processes`): `Child` (spawned in its own process group, one log file),
  `stop_children` (SIGTERM or the signal given, SIGKILL after `STOP_GRACE_S`), `wait_until`
  (raises `StackError` naming what was not ready, with its log).
- Services (`instances`): `SERVICES`, `START_TIERS`, `DEFAULT_INSTANCES`, `Instance`.
- The gateway (`gateway`): `GatewayLayout`, `render_gateway_config` (from the one template,
  through `gateway.render`), `check_gateway_config`, `start_gateway`.
- The command line (`cli`): `settings_from_cli`, `main`.
- Private events exchanges (`exchanges`): `new_exchange_name`, `delete_event_topology` (the
  exchange, its dead-letter exchange and every catalogue queue), `private_event_exchange`.

Every failure to start is a `StackError` (`errors`) whose message says what and where to look.
"""

from tools.devstack.cli import main, settings_from_cli, watch
from tools.devstack.errors import StackError
from tools.devstack.exchanges import (
    delete_event_topology,
    new_exchange_name,
    private_event_exchange,
)
from tools.devstack.gateway import (
    GatewayLayout,
    check_gateway_config,
    render_gateway_config,
    start_gateway,
)
from tools.devstack.instances import DEFAULT_INSTANCES, SERVICES, START_TIERS, Instance
from tools.devstack.probes import (
    DEFAULT_PORTS,
    amqp_answers,
    free_ports,
    host_port,
    http_answer,
    http_ok,
    mongo_answers,
    port_is_free,
    redact,
    redis_answers,
    tcp_answers,
)
from tools.devstack.processes import ROOT, STOP_GRACE_S, Child, stop_children, wait_until
from tools.devstack.servers import (
    DEFAULT_AMQP_URL,
    DEFAULT_REDIS_URL,
    LOCAL_HOSTS,
    MOTO_CREDENTIALS,
    URL_VARIABLES,
    Server,
    create_bucket,
    ensure_mongo,
    ensure_rabbitmq,
    ensure_redis,
    start_moto,
    start_secantus,
)
from tools.devstack.stack import (
    DEFAULT_EVENTS_EXCHANGE,
    DEFAULT_S3_BUCKET,
    READINESS_POLL_S,
    READINESS_SILENCE_LIMIT,
    READY_TIMEOUT_S,
    Stack,
    StackSettings,
)

__all__ = [
    "DEFAULT_AMQP_URL",
    "DEFAULT_EVENTS_EXCHANGE",
    "DEFAULT_INSTANCES",
    "DEFAULT_PORTS",
    "DEFAULT_REDIS_URL",
    "DEFAULT_S3_BUCKET",
    "LOCAL_HOSTS",
    "MOTO_CREDENTIALS",
    "READINESS_POLL_S",
    "READINESS_SILENCE_LIMIT",
    "READY_TIMEOUT_S",
    "ROOT",
    "SERVICES",
    "START_TIERS",
    "STOP_GRACE_S",
    "URL_VARIABLES",
    "Child",
    "GatewayLayout",
    "Instance",
    "Server",
    "Stack",
    "StackError",
    "StackSettings",
    "amqp_answers",
    "check_gateway_config",
    "create_bucket",
    "delete_event_topology",
    "ensure_mongo",
    "ensure_rabbitmq",
    "ensure_redis",
    "free_ports",
    "host_port",
    "http_answer",
    "http_ok",
    "main",
    "mongo_answers",
    "new_exchange_name",
    "port_is_free",
    "private_event_exchange",
    "redact",
    "redis_answers",
    "render_gateway_config",
    "settings_from_cli",
    "start_gateway",
    "start_moto",
    "start_secantus",
    "stop_children",
    "tcp_answers",
    "wait_until",
    "watch",
]
