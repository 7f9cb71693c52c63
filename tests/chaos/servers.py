"""Private servers the chaos tests may break: a SecantusDB that stops and starts again on the
same port and data, and service instances killed and started again in a running stack.

Everything here is built on `tools.devstack` (`start_secantus`, `Instance`, `Stack`); nothing
touches a server the tests did not start themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polling import eventually
from pymongo import AsyncMongoClient

from nocturnal.shared.mongo import ping
from tools.devstack import (
    Instance,
    Server,
    Stack,
    StackSettings,
    free_ports,
    http_ok,
    private_event_exchange,
    start_secantus,
    stop_children,
    wait_until,
)

READY_TIMEOUT_S = 90.0  # a loaded 2-core machine starts a service in seconds, rarely more
# The load sends hundreds of requests from one address: production limits would 429 it.
LOOSE_LIMITS = json.dumps(
    {name: {"window_s": 60, "normal": 10_000, "strict": 10_000} for name in ("auth", "api")}
)


@dataclass
class RestartableMongo:
    """A SecantusDB of the tests' own on a fixed port and data directory: `pause()` (SIGSTOP:
    connections hang), `resume()`, `stop()` (SIGTERM: connections refused) and `start()` again
    with the same data. Use as a context manager; it is stopped (and resumed first) on exit."""

    data_dir: Path
    log_dir: Path
    port: int = field(default_factory=lambda: free_ports(1)[0])
    server: Server | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?replicaSet=secantus"

    def start(self) -> None:
        """Start (again) on the same port and data directory; returns once it answers."""
        self.starts += 1
        log = self.log_dir / f"mongo-{self.starts}.log"
        self.server = start_secantus(str(self.data_dir), log, timeout=60.0, port=self.port)

    def stop(self) -> None:
        """SIGTERM it and wait for it to exit (a paused one is resumed first)."""
        if self.server is not None and self.server.child is not None:
            self.server.child.signal_group(signal.SIGCONT)
            stop_children([self.server.child])
        self.server = None

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers (a hung server)."""
        assert self.server is not None and self.server.child is not None
        self.server.child.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        assert self.server is not None and self.server.child is not None
        self.server.child.signal_group(signal.SIGCONT)

    def __enter__(self) -> RestartableMongo:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


async def answering_again(client: AsyncMongoClient[Any]) -> None:
    """Wait until `client`'s server answers a ping again (after a restart or SIGCONT)."""
    await eventually(functools.partial(ping, client), "MongoDB answering again", within=30)


@contextlib.contextmanager
def running_stack(
    run_dir: Path,
    *,
    mongo_url: str,
    redis_url: str,
    amqp_url: str,
    instances: dict[str, int] | None = None,
    moto: bool = False,
    extra_env: dict[str, str] | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
) -> Iterator[Stack]:
    """Every service behind a gateway on any free port, on exactly the servers given (none
    found or shared by accident), an events exchange of its own (deleted afterwards), two api
    instances by default, and limits the load does not reach; `moto`: upload stores in a moto
    S3 server of its own (else the local directory backend); `service_env`: variables of one
    service's instances only. Logs in run_dir/logs."""
    with private_event_exchange(amqp_url, "test-chaos") as events_exchange:
        settings = StackSettings(
            instances=instances or {"auth": 1, "api": 2, "upload": 1, "ratelimit": 1},
            gateway_port=0,
            public_host="127.0.0.1",
            run_dir=run_dir,
            mongo_url=mongo_url,
            redis_url=redis_url,
            amqp_url=amqp_url,
            events_exchange=events_exchange,
            ready_timeout=READY_TIMEOUT_S,
            moto=moto,
            extra_env={"RATELIMIT_POLICIES": LOOSE_LIMITS, **(extra_env or {})},
            service_env=service_env or {},
        )
        with Stack(settings) as stack:
            print(f"\n{stack.describe()}")
            yield stack


def instances_of(stack: Stack, service: str) -> list[Instance]:
    """The stack's running instances of `service`, in start order."""
    return [i for i in stack.instances if i.service == service]


def kill(instance: Instance, signum: int = signal.SIGKILL) -> None:
    """Send `signum` to the instance's process group (SIGKILL by default)."""
    instance.child.signal_group(signum)


async def wait_exited(instance: Instance, within_s: float = 60.0) -> int:
    """Wait for the instance's process to end; return its exit code."""
    code = await asyncio.to_thread(instance.child.proc.wait, within_s)
    return int(code)


async def respawn(
    stack: Stack, instance: Instance, env_changes: dict[str, str] | None = None
) -> Instance:
    """Start `instance` again (same name, port and environment, but for `env_changes`) once it
    has exited, put the new one in its place in `stack.instances`, and wait until it is
    ready."""
    await wait_exited(instance)
    env = stack.service_env(instance.service, instance.name, instance.port) | (env_changes or {})
    fresh = Instance.spawn(instance.service, instance.name, instance.port, env, stack.settings.logs)
    stack.instances[stack.instances.index(instance)] = fresh
    ready = lambda: http_ok(f"{fresh.url}/health/ready")  # noqa: E731
    await asyncio.to_thread(wait_until, ready, fresh.name, READY_TIMEOUT_S, fresh.child)
    return fresh
