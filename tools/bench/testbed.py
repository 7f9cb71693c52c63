"""The bench's own world: SecantusDB, a private Redis, moto S3, an events exchange, the bare
baseline server, and Nocturnal stacks with the limits of the measured routes raised.

Nothing shared is touched: the Redis is a redis-server of its own on a free port (the machine's
Redis on 6379 serves other work), the exchange and its queues on the shared RabbitMQ are
deleted at the end, and every process started here is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import secrets
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tools.bench.settings import BenchSettings
from tools.devstack import (
    DEFAULT_AMQP_URL,
    Child,
    Server,
    Stack,
    StackSettings,
    create_bucket,
    delete_event_topology,
    ensure_redis,
    free_ports,
    http_ok,
    start_moto,
    start_secantus,
    stop_children,
    wait_until,
)

BUCKET = "nocturnal-bench"
# Never denies on the measured routes (the ratelimit service caps a limit at 10 000 units):
# every check still runs its Redis script, counts and answers, exactly as with real limits.
RAISED_LIMIT = {"window_s": 1, "normal": 10_000, "strict": 10_000}
RAISED_POLICIES = {policy: RAISED_LIMIT for policy in ("auth", "api", "upload")}


class DirectRatelimitStack(Stack):
    """A stack whose services call the one ratelimit instance directly.

    On Kubernetes (and compose) a peer's Service name leads straight to a pod; the dev stack's
    nginx internal listener would add a proxy process to every check that production does not
    have. With more than one ratelimit instance the listener stays (it balances them).
    """

    def service_env(self, service: str, name: str, port: int) -> dict[str, str]:
        env = super().service_env(service, name, port)
        assert self.layout is not None
        ratelimit_ports = self.layout.instance_ports["ratelimit"]
        if len(ratelimit_ports) == 1:
            env["RATELIMIT_URL"] = f"http://127.0.0.1:{ratelimit_ports[0]}"
        return env


@dataclass
class Testbed:
    """Servers the bench starts once and every stack of the run shares."""

    settings: BenchSettings
    mongo: Server
    redis: Server
    moto: Server
    bare_url: str
    bare: Child
    exchange: str
    amqp_url: str = DEFAULT_AMQP_URL
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.settings.run_dir / "logs"

    def stack_settings(self, label: str, *, api: int = 1, ratelimit: int = 1) -> StackSettings:
        """Settings of one stack: production mode (JSON logs), raised limits, the s3 backend."""
        return StackSettings(
            instances={"auth": 1, "api": api, "upload": 1, "ratelimit": ratelimit},
            gateway_port=0,
            public_host="127.0.0.1",
            run_dir=self.settings.run_dir / label,
            mongo_url=self.mongo.url,
            redis_url=self.redis.url,
            amqp_url=self.amqp_url,
            s3_endpoint_url=self.moto.url,
            s3_bucket=BUCKET,
            events_exchange=self.exchange,
            extra_env={
                "NOCTURNAL_ENV": "production",
                "RATELIMIT_POLICIES": json.dumps(RAISED_POLICIES),
                **self.secrets,
            },
        )

    def stack(self, label: str, *, api: int = 1, ratelimit: int = 1, direct: bool = True) -> Stack:
        """A started stack (stop it, or use it as a context manager)."""
        kind = DirectRatelimitStack if direct else Stack
        settings = self.stack_settings(label, api=api, ratelimit=ratelimit)
        return kind(settings).start()

    def server_pids(self) -> dict[str, int]:
        """Component name -> pid of the servers this bench started."""
        pids = {"bare": self.bare.proc.pid}
        for server in (self.mongo, self.redis, self.moto):
            if server.child is not None:
                pids[server.role] = server.child.proc.pid
        return pids


def stack_pids(stack: Stack) -> dict[str, int]:
    """Component name -> pid of a stack's instances (api-1, ...) and its gateway (nginx tree)."""
    pids = {instance.name: instance.child.proc.pid for instance in stack.instances}
    if stack.gateway is not None:
        pids["gateway"] = stack.gateway.proc.pid
    return pids


def _start_bare(logs: Path) -> tuple[Child, str]:
    port = free_ports(1)[0]
    argv = [sys.executable, "-m", "tools.bench.bare", str(port)]
    child = Child.spawn("bare", argv, logs / "bare.log")
    url = f"http://127.0.0.1:{port}"
    wait_until(functools.partial(http_ok, f"{url}/hello"), "bare baseline server", 30, child)
    return child, url


def _delete_topology(amqp_url: str, exchange: str) -> None:
    asyncio.run(delete_event_topology(amqp_url, exchange))


@contextlib.contextmanager
def testbed(settings: BenchSettings) -> Iterator[Testbed]:
    """Start the shared servers; stop them and delete the exchange's queues afterwards."""
    logs = settings.run_dir / "logs"
    started: list[Server] = []
    bare: Child | None = None
    exchange = f"nocturnal.events.bench-{uuid.uuid4().hex[:10]}"
    try:
        started.append(start_secantus(":memory:", logs / "mongo.log"))
        redis_port = free_ports(1)[0]
        started.append(ensure_redis(f"redis://127.0.0.1:{redis_port}/0", logs / "redis.log"))
        started.append(start_moto(logs / "s3.log"))
        create_bucket(started[2].url, BUCKET)
        bare, bare_url = _start_bare(logs)
        yield Testbed(
            settings=settings,
            mongo=started[0],
            redis=started[1],
            moto=started[2],
            bare_url=bare_url,
            bare=bare,
            exchange=exchange,
            secrets={
                "SIGNING_KEY_SECRET": secrets.token_urlsafe(32),
                "URL_SIGNING_SECRET": secrets.token_urlsafe(32),
            },
        )
    finally:
        if bare is not None:
            stop_children([bare])
        for server in reversed(started):
            server.stop()
        with contextlib.suppress(Exception):
            _delete_topology(DEFAULT_AMQP_URL, exchange)
