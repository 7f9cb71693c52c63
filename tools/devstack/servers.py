"""Backing servers: reuse MongoDB, Redis, RabbitMQ or S3 where one answers, else start one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools.devstack.errors import StackError
from tools.devstack.probes import (
    DEFAULT_PORTS,
    DIRECT,
    amqp_answers,
    free_ports,
    host_port,
    http_ok,
    mongo_answers,
    redact,
    redis_answers,
    tcp_answers,
)
from tools.devstack.processes import Child, stop_children, wait_until

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
MOTO_CREDENTIALS = "testing"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
URL_VARIABLES = {"redis": "REDIS_URL", "rabbitmq": "AMQP_URL"}


@dataclass
class Server:
    """A backing server the stack uses: where it is, how it got there, how to stop it."""

    role: str
    url: str
    origin: str
    child: Child | None = None  # set only when this runner started it
    stop_argv: list[str] | None = None  # how to stop it, where signals do not reach it all

    def stop(self) -> None:
        """Stop the server if this runner started it; never touch one it only reused."""
        if self.child is None:
            return
        if self.stop_argv and self.child.alive:
            subprocess.run(self.stop_argv, capture_output=True, timeout=60, check=False)
        stop_children([self.child])


def _bin(name: str) -> str:
    """A console script installed beside the running interpreter (the workspace venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def start_secantus(
    storage: str, log_path: Path, timeout: float = 30.0, port: int | None = None
) -> Server:
    """Start SecantusDB (MongoDB wire protocol, single-node replica set "secantus") on `port`,
    or a free one.

    `storage` is a directory (kept across runs: a server started again on the same directory
    and port is the same database) or ":memory:".
    """
    if storage != ":memory:":
        Path(storage).mkdir(parents=True, exist_ok=True)
    port = port or free_ports(1)[0]
    argv = [_bin("secantusd-py"), "--host", "127.0.0.1", "--port", str(port)]
    child = Child.spawn("mongo", [*argv, "--storage-path", storage], log_path)
    url = f"mongodb://127.0.0.1:{port}/?replicaSet=secantus"
    wait_until(lambda: mongo_answers(url), "SecantusDB", timeout, child)
    return Server("mongo", url, f"started SecantusDB ({storage})", child=child)


def ensure_mongo(url: str | None, storage: str, log_path: Path) -> Server:
    """Reuse the MongoDB at `url` when it answers; otherwise start SecantusDB."""
    if url and mongo_answers(url):
        return Server("mongo", url, "reused (MONGO_URL)")
    if url:
        print(f"devstack: MONGO_URL {redact(url)} does not answer; starting SecantusDB", flush=True)
    return start_secantus(storage, log_path)


def start_moto(log_path: Path, timeout: float = 30.0) -> Server:
    """Start a moto S3 server on a free port."""
    port = free_ports(1)[0]
    argv = [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    child = Child.spawn("s3", argv, log_path)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(f"{url}/moto-api/"), "moto S3 server", timeout, child)
    return Server("s3", url, "started moto", child=child)


def create_bucket(endpoint_url: str, bucket: str) -> None:
    """Create `bucket` on a moto server (moto accepts unsigned requests; exists is fine)."""
    request = urllib.request.Request(f"{endpoint_url}/{bucket}", method="PUT")
    try:
        DIRECT.open(request, timeout=5).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise StackError(f"could not create bucket {bucket} on {endpoint_url}: {exc}") from exc


def _reuse_or_start(
    role: str,
    url: str,
    argv: list[str],
    answers: Callable[[str], bool],
    log_path: Path,
    stop_argv: list[str] | None = None,
) -> Server:
    """Reuse the server at `url`, or start Debian's `argv` in the foreground as a child.

    A port that accepts connections but does not answer belongs to a server still booting or
    overloaded: wait for it, and never take it for one this runner started (and may stop).
    """
    if answers(url):
        return Server(role, url, "reused")
    host, port = host_port(url, DEFAULT_PORTS[role])
    if tcp_answers(host, port):
        wait_until(lambda: answers(url), f"{role} at {redact(url)} (it listens)", timeout=30)
        return Server(role, url, "reused")
    binary = shutil.which(argv[0])
    if host not in LOCAL_HOSTS or binary is None:
        raise StackError(
            f"{role} does not answer at {redact(url)}; start one or set {URL_VARIABLES[role]} "
            f"(Debian: apt-get install {argv[0]})"
        )
    print(f"devstack: {role} does not answer at {redact(url)}; starting {argv[0]}", flush=True)
    child = Child.spawn(role, [binary, *argv[1:]], log_path)
    wait_until(lambda: answers(url), argv[0], timeout=120, child=child)
    return Server(role, url, f"started {argv[0]}", child=child, stop_argv=stop_argv)


def ensure_redis(url: str, log_path: Path) -> Server:
    """Reuse the Redis at `url`; if none answers and it is local, start Debian's redis-server.

    Raises:
        StackError: when nothing answers and none can be started.
    """
    port = str(host_port(url, DEFAULT_PORTS["redis"])[1])
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", port, "--save", ""]
    argv += ["--appendonly", "no"]
    # DEBUG from this machine only: `redis-cli -p PORT debug sleep 10` reproduces a hung Redis
    # (docs/runbook.md); Redis 7 refuses DEBUG unless told.
    argv += ["--enable-debug-command", "local"]
    return _reuse_or_start("redis", url, argv, redis_answers, log_path)


def ensure_rabbitmq(url: str, log_path: Path) -> Server:
    """Reuse the RabbitMQ at `url`; if none answers and it is local, start Debian's server.

    Debian's rabbitmq-server runs its one node ("rabbit") on the port its config names (5672),
    as the rabbitmq user in a session of its own: `rabbitmqctl shutdown` stops it, not a signal.

    Raises:
        StackError: when nothing answers and none can be started.
    """
    stop = ["rabbitmqctl", "shutdown"]
    return _reuse_or_start("rabbitmq", url, ["rabbitmq-server"], amqp_answers, log_path, stop)
