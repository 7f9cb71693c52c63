"""The whole stack: backing servers, service instances in start tiers, the gateway in front,
which follows the instances' readiness."""

from __future__ import annotations

import functools
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from tools.devstack.errors import StackError
from tools.devstack.gateway import GatewayLayout, render_gateway_config, start_gateway
from tools.devstack.instances import DEFAULT_INSTANCES, SERVICES, START_TIERS, Instance
from tools.devstack.probes import free_ports, http_answer, http_ok, port_is_free, redact
from tools.devstack.processes import ROOT, Child, stop_children, wait_until
from tools.devstack.servers import (
    DEFAULT_AMQP_URL,
    DEFAULT_REDIS_URL,
    MOTO_CREDENTIALS,
    Server,
    create_bucket,
    ensure_mongo,
    ensure_rabbitmq,
    ensure_redis,
    start_moto,
)

DEFAULT_EVENTS_EXCHANGE = "nocturnal.events"
DEFAULT_S3_BUCKET = "nocturnal-uploads"
READY_TIMEOUT_S = 60.0
# How often the gateway's upstreams are matched to the instances' readiness, and how many
# unanswered probes in a row take an instance out (an answer other than 200 does at once).
READINESS_POLL_S = 0.25
READINESS_SILENCE_LIMIT = 3


def routing_message(left_out: list[str], none_ready: list[str]) -> str:
    """What the gateway does now: the instances it routes around, and the services none of
    whose instances is ready (it keeps sending to all of them: each answers for itself)."""
    message = f"gateway routes around {', '.join(left_out) or 'no instance'}"
    for service in none_ready:
        message += f"; no {service} instance is ready, so each still gets requests"
    return message


@dataclass
class StackSettings:
    """What to run and against which servers; None means "find or start one"."""

    instances: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_INSTANCES))
    gateway_port: int = 8080  # 0: any free port
    public_host: str = "localhost"
    run_dir: Path = ROOT / ".run"
    log_dir: Path | None = None  # default: run_dir/logs
    mongo_url: str | None = None
    mongo_storage: str | None = None  # a directory or ":memory:"; default: run_dir/mongo
    redis_url: str = DEFAULT_REDIS_URL
    amqp_url: str = DEFAULT_AMQP_URL
    s3_endpoint_url: str | None = None  # None: the local storage backend
    moto: bool = False  # start a moto S3 server and use the s3 backend
    s3_bucket: str = DEFAULT_S3_BUCKET
    events_exchange: str = DEFAULT_EVENTS_EXCHANGE
    ready_timeout: float = READY_TIMEOUT_S
    extra_env: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)  # by service, last

    @property
    def logs(self) -> Path:
        return self.log_dir or self.run_dir / "logs"


class Stack:
    """Every Nocturnal service behind an nginx gateway, with the servers they need.

    Use as a context manager, or call start() and stop(). Stops only what it started.
    """

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.servers: list[Server] = []
        self.instances: list[Instance] = []
        self.gateway: Child | None = None
        self.layout: GatewayLayout | None = None
        self.storage = "local"
        self._reported_exits: set[str] = set()
        self._down: frozenset[int] = frozenset()
        self._silent: dict[int, int] = {}  # port -> unanswered readiness probes in a row
        self._following = threading.Event()
        self._follower: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The public gateway URL, e.g. http://localhost:8080."""
        if self.layout is None:
            raise StackError("the stack is not started")
        return f"http://{self.settings.public_host}:{self.layout.gateway_port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start everything; on any failure stop what was started and raise StackError."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        s = self.settings
        self._check_settings()
        s.run_dir.mkdir(parents=True, exist_ok=True)
        mongo_storage = s.mongo_storage or str(s.run_dir / "mongo")
        self.servers.append(ensure_mongo(s.mongo_url, mongo_storage, s.logs / "mongo.log"))
        self.servers.append(ensure_redis(s.redis_url, s.logs / "redis.log"))
        self.servers.append(ensure_rabbitmq(s.amqp_url, s.logs / "rabbitmq.log"))
        self._start_storage()
        self.layout = self._plan_ports()
        self.gateway = start_gateway(self.layout, s.run_dir, s.logs)
        for tier in START_TIERS:
            started = [self._start_instance(svc, n) for svc in tier for n in self._numbers(svc)]
            self.instances += started
            print(f"devstack: starting {', '.join(i.name for i in started)}", flush=True)
            for instance in started:
                ready = functools.partial(http_ok, f"{instance.url}/health/ready")
                wait_until(ready, instance.name, s.ready_timeout, instance.child)
        self._following.clear()
        self._follower = threading.Thread(target=self._follow_readiness, daemon=True)
        self._follower.start()

    def sync_gateway(self) -> bool:
        """Leave instances that are not ready out of the gateway's upstreams and put ready ones
        back, the way Kubernetes keeps a Service's endpoints to its ready pods: a draining
        instance (readiness 503 after SIGTERM) stops getting requests while it finishes its
        own. A service whose instances are all unready keeps them all. True when nginx reloaded.
        """
        assert self.layout is not None and self.gateway is not None
        down: set[int] = set()
        none_ready: list[str] = []
        for service in SERVICES:
            ports = [i.port for i in self.instances if i.service == service]
            unready = {port for port in ports if not self._ready(port)}
            if len(unready) < len(ports):
                down |= unready
            elif ports:
                none_ready.append(service)
        if down == self._down:
            return False
        s = self.settings
        (s.run_dir / "nginx.conf").write_text(
            render_gateway_config(self.layout, s.run_dir, s.logs, down)
        )
        self.gateway.proc.send_signal(signal.SIGHUP)  # nginx reloads; old workers finish first
        left_out = sorted(i.name for i in self.instances if i.port in down)
        print(f"devstack: {routing_message(left_out, none_ready)}", flush=True)
        self._down = frozenset(down)
        return True

    def _ready(self, port: int) -> bool:
        """Ready unless it answers otherwise or stays silent (a loaded machine answers late)."""
        status = http_answer(f"http://127.0.0.1:{port}/health/ready")
        if status is not None:
            self._silent[port] = 0
            return status == 200
        self._silent[port] = self._silent.get(port, 0) + 1
        return self._silent[port] < READINESS_SILENCE_LIMIT

    def _follow_readiness(self) -> None:
        while not self._following.wait(READINESS_POLL_S):
            self.sync_gateway()

    def _check_settings(self) -> None:
        s = self.settings
        for service in SERVICES:
            if s.instances.get(service, 0) < 1:
                raise StackError(f"{service} needs at least one instance")
        if s.gateway_port and not port_is_free(s.gateway_port):
            raise StackError(
                f"port {s.gateway_port} is in use; stop what holds it or pick --gateway-port"
            )

    def _start_storage(self) -> None:
        s = self.settings
        if s.moto and not s.s3_endpoint_url:
            moto = start_moto(s.logs / "s3.log")
            self.servers.append(moto)
            create_bucket(moto.url, s.s3_bucket)
            self.storage = "s3"
        elif s.s3_endpoint_url:
            self.servers.append(Server("s3", s.s3_endpoint_url, "reused (S3_ENDPOINT_URL)"))
            self.storage = "s3"

    def _plan_ports(self) -> GatewayLayout:
        s = self.settings
        instance_count = sum(s.instances[svc] for svc in SERVICES)
        ports = iter(free_ports(instance_count + len(SERVICES) + 2))
        gateway_port = s.gateway_port or next(ports)
        vip_ports = {svc: next(ports) for svc in SERVICES}
        instance_ports = {svc: [next(ports) for _ in self._numbers(svc)] for svc in SERVICES}
        return GatewayLayout(gateway_port, vip_ports, instance_ports, next(ports))

    def _numbers(self, service: str) -> range:
        return range(1, self.settings.instances[service] + 1)

    def service_url(self, service: str) -> str:
        """The internal listener that load-balances to `service`'s instances."""
        assert self.layout is not None
        return f"http://127.0.0.1:{self.layout.vip_ports[service]}"

    def _server_url(self, role: str) -> str:
        return next((server.url for server in self.servers if server.role == role), "")

    def service_env(self, service: str, name: str, port: int) -> dict[str, str]:
        """The environment one service instance starts with."""
        s = self.settings
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "INSTANCE_NAME": name,
            # No cluster DNS here: the degraded rate limiters share limits among this many.
            "INSTANCES": str(s.instances[service]),
            "NOCTURNAL_ENV": "development",
            "MONGO_URL": self._server_url("mongo"),
            "AMQP_URL": s.amqp_url,
            "REDIS_URL": s.redis_url,
            "EVENTS_EXCHANGE": s.events_exchange,
            "PUBLIC_BASE_URL": self.base_url,
            **{f"{peer.upper()}_URL": self.service_url(peer) for peer in SERVICES},
        }
        if service == "upload":
            env |= self._storage_env()
        return env | s.extra_env | s.service_env.get(service, {})

    def _storage_env(self) -> dict[str, str]:
        s = self.settings
        if self.storage == "local":
            (s.run_dir / "uploads").mkdir(parents=True, exist_ok=True)
            return {"STORAGE_BACKEND": "local", "STORAGE_LOCAL_DIR": str(s.run_dir / "uploads")}
        started_moto = any(server.role == "s3" and server.child for server in self.servers)
        given = {} if started_moto else os.environ  # moto takes any key; a real endpoint won't
        return {
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT_URL": self._server_url("s3"),
            "S3_BUCKET": s.s3_bucket,
            "S3_REGION": os.environ.get("S3_REGION", "us-east-1"),
            "AWS_ACCESS_KEY_ID": given.get("AWS_ACCESS_KEY_ID", MOTO_CREDENTIALS),
            "AWS_SECRET_ACCESS_KEY": given.get("AWS_SECRET_ACCESS_KEY", MOTO_CREDENTIALS),
        }

    def _start_instance(self, service: str, number: int) -> Instance:
        assert self.layout is not None
        name = f"{service}-{number}"
        port = self.layout.instance_ports[service][number - 1]
        env = self.service_env(service, name, port)
        return Instance.spawn(service, name, port, env, self.settings.logs)

    def stop(self) -> None:
        """Stop the gateway and the instances, then the servers this stack started."""
        self._following.set()
        if self._follower is not None:
            self._follower.join()
            self._follower = None
        children = [instance.child for instance in self.instances]
        if self.gateway is not None:
            children.append(self.gateway)
        # SIGINT: the services skip their drain, since the gateway in front of them stops too.
        stop_children(children, signum=signal.SIGINT)
        for server in reversed(self.servers):
            server.stop()
        self.instances, self.servers, self.gateway = [], [], None

    def exited(self) -> list[Child]:
        """Children that exited since the last call (each reported once): instances, the
        gateway, and the servers this stack started."""
        children = [instance.child for instance in self.instances]
        children += [self.gateway] if self.gateway else []
        children += [server.child for server in self.servers if server.child is not None]
        gone = [c for c in children if not c.alive and c.name not in self._reported_exits]
        self._reported_exits.update(c.name for c in gone)
        return gone

    def describe(self) -> str:
        """A table of what runs where, what was started and what reused, and the log files."""
        rows = [("component", "where", "how", "log")]
        for server in self.servers:
            log = str(server.child.log_path) if server.child else ""
            rows.append((server.role, redact(server.url), server.origin, log))
        if self.storage == "local":
            rows.append(("storage", str(self.settings.run_dir / "uploads"), "local backend", ""))
        else:
            rows.append(("storage", f"bucket {self.settings.s3_bucket}", "s3 backend", ""))
        for instance in self.instances:
            rows.append((instance.name, instance.url, "started", str(instance.child.log_path)))
        for service in SERVICES:
            rows.append((f"{service} (internal)", self.service_url(service), "nginx", ""))
        gateway_log = str(self.settings.logs / "gateway-access.log")
        rows.append(("gateway", self.base_url, "started nginx", gateway_log))
        widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
        lines = (
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
        )
        return "\n".join(line.rstrip() for line in lines)
