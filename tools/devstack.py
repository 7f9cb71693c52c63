"""Local platform runner behind `make run`: backing servers, service instances, nginx gateway."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from gateway.render import render_gateway, upstream_servers

ROOT = Path(__file__).resolve().parent.parent

SERVICES = ("auth", "api", "upload", "ratelimit")
# Peers first: auth (JWKS) and ratelimit are ready before the services that call them start.
START_TIERS = (("auth", "ratelimit"), ("upload", "api"))
DEFAULT_INSTANCES = {"auth": 1, "api": 2, "upload": 1, "ratelimit": 1}

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_EVENTS_EXCHANGE = "nocturnal.events"
DEFAULT_S3_BUCKET = "nocturnal-uploads"
MOTO_CREDENTIALS = "testing"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
URL_VARIABLES = {"redis": "REDIS_URL", "rabbitmq": "AMQP_URL"}
DEFAULT_PORTS = {"redis": 6379, "rabbitmq": 5672}

READY_TIMEOUT_S = 60.0
# Longer than a service's SHUTDOWN_DRAIN_S + SHUTDOWN_TIMEOUT_S defaults (5 + 20 s).
STOP_GRACE_S = 30.0
# How often the gateway's upstreams are matched to the instances' readiness, and how many
# unanswered probes in a row take an instance out (an answer other than 200 does at once).
READINESS_POLL_S = 0.25
READINESS_SILENCE_LIMIT = 3


class StackError(RuntimeError):
    """Something the stack needs did not start; the message says what and where to look."""


# --- ports and probes -----------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Return `count` distinct TCP ports that are free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as sockets:
        ports = []
        for _ in range(count):
            sock = sockets.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def port_is_free(port: int) -> bool:
    """True when nothing listens on `port` (all interfaces), so nginx can bind it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def tcp_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def redis_answers(url: str, timeout: float = 2.0) -> bool:
    """True when a Redis server answers PING at `url` (an auth error also counts as answering)."""
    try:
        with socket.create_connection(
            _host_port(url, DEFAULT_PORTS["redis"]), timeout=timeout
        ) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH", b"-WRONGPASS"))


def amqp_answers(url: str, timeout: float = 2.0) -> bool:
    """True when an AMQP 0-9-1 broker at `url` answers the protocol header with Connection.Start."""
    try:
        with socket.create_connection(
            _host_port(url, DEFAULT_PORTS["rabbitmq"]), timeout=timeout
        ) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            reply = sock.recv(7)
    except OSError:
        return False
    return len(reply) == 7 and reply[0] == 1  # frame type 1: a method frame


def mongo_answers(url: str, timeout: float = 1.5) -> bool:
    """True when a MongoDB server at `url` answers `ping`."""
    import pymongo  # imported here: the rest of the runner needs no third-party package
    import pymongo.errors

    ms = int(timeout * 1000)
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms
    )
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


# Local probes never go through an HTTP proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET `url` answers 200."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def http_answer(url: str, timeout: float = 1.0) -> int | None:
    """The status GET `url` answers (0 when the connection is refused), or None when no answer
    came within `timeout` seconds."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError as exc:
        return 0 if isinstance(exc.reason, ConnectionRefusedError) else None
    except (OSError, http.client.HTTPException):
        return None


def redact(url: str) -> str:
    """`url` with its password replaced by ***, for printing."""
    parts = urllib.parse.urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# --- child processes ------------------------------------------------------------------------


def _die_with_parent() -> None:
    # Linux PR_SET_PDEATHSIG: if the runner is killed outright, its children do not linger.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class Child:
    """A process this runner started, in its own process group, logging to one file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def spawn(
        cls, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> Child:
        """Start `argv` with stdout and stderr to `log_path` (truncated)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=ROOT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        return cls(name, proc, log_path)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 25) -> str:
        """The last `lines` lines of the log, indented, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "    (no log)"
        return "\n".join(f"    {line}" for line in text.splitlines()[-lines:]) or "    (empty log)"

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)


def stop_children(
    children: Iterable[Child], grace: float = STOP_GRACE_S, signum: int = signal.SIGTERM
) -> None:
    """Signal each child's process group (SIGTERM unless `signum` says otherwise), wait up to
    `grace` seconds, then SIGKILL the rest."""
    running = [child for child in children if child.alive]
    for child in running:
        child.signal_group(signum)
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        running = [child for child in running if child.alive]
        time.sleep(0.1)
    for child in running:
        name = signal.Signals(signum).name
        print(f"devstack: {child.name} ignored {name} for {grace:g} s; killing it", flush=True)
        child.signal_group(signal.SIGKILL)
        child.proc.wait()


def wait_until(
    answers: Callable[[], bool], what: str, timeout: float, child: Child | None = None
) -> None:
    """Poll `answers` until it is true; fail fast if `child` exits, or after `timeout` seconds.

    Raises:
        StackError: naming `what`, with the tail of the child's log when there is one.
    """
    deadline = time.monotonic() + timeout
    while not answers():
        if child is not None and not child.alive:
            raise StackError(
                f"{what} exited with code {child.proc.returncode} before it was ready; "
                f"last lines of {child.log_path}:\n{child.tail()}"
            )
        if time.monotonic() > deadline:
            log = f"; last lines of {child.log_path}:\n{child.tail()}" if child else ""
            raise StackError(f"{what} was not ready after {timeout:.0f} s{log}")
        time.sleep(0.2)


# --- backing servers ------------------------------------------------------------------------


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


def start_secantus(storage: str, log_path: Path, timeout: float = 30.0) -> Server:
    """Start SecantusDB (MongoDB wire protocol, single-node replica set "secantus") on a free port.

    `storage` is a directory (kept across runs) or ":memory:".
    """
    if storage != ":memory:":
        Path(storage).mkdir(parents=True, exist_ok=True)
    port = free_ports(1)[0]
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
        _DIRECT.open(request, timeout=5).close()
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
    host, port = _host_port(url, DEFAULT_PORTS[role])
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
    port = str(_host_port(url, DEFAULT_PORTS["redis"])[1])
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", port]
    return _reuse_or_start(
        "redis", url, [*argv, "--save", "", "--appendonly", "no"], redis_answers, log_path
    )


def ensure_rabbitmq(url: str, log_path: Path) -> Server:
    """Reuse the RabbitMQ at `url`; if none answers and it is local, start Debian's server.

    Debian's rabbitmq-server runs its one node ("rabbit") on the port its config names (5672),
    as the rabbitmq user in a session of its own: `rabbitmqctl shutdown` stops it, not a signal.

    Raises:
        StackError: when nothing answers and none can be started.
    """
    stop = ["rabbitmqctl", "shutdown"]
    return _reuse_or_start("rabbitmq", url, ["rabbitmq-server"], amqp_answers, log_path, stop)


# --- gateway --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayLayout:
    """Where the gateway listens and where each service's instances are."""

    gateway_port: int
    vip_ports: Mapping[str, int]
    instance_ports: Mapping[str, Sequence[int]]


def render_gateway_config(
    layout: GatewayLayout, run_dir: Path, log_dir: Path, down: Iterable[int] = ()
) -> str:
    """The nginx config for `layout`, with every file path inside `run_dir` or `log_dir`.

    Instances whose port is in `down` are listed but get no requests (not ready).
    """
    down_addresses = {f"127.0.0.1:{port}" for port in down}
    servers = {
        service: upstream_servers(
            [f"127.0.0.1:{port}" for port in layout.instance_ports[service]], down=down_addresses
        )
        for service in SERVICES
    }
    return render_gateway(
        gateway_port=layout.gateway_port,
        pid_path=run_dir / "nginx.pid",
        log_dir=log_dir,
        temp_dir=run_dir / "tmp",
        servers=servers,
        vip_ports=layout.vip_ports,
    )


def _nginx_argv(run_dir: Path, log_dir: Path) -> list[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise StackError(
            "nginx is not installed (run tools/bootstrap.sh, or apt-get install nginx)"
        )
    conf = run_dir / "nginx.conf"
    return [nginx, "-p", f"{run_dir}/", "-c", str(conf), "-e", str(log_dir / "gateway-error.log")]


def check_gateway_config(config: str, run_dir: Path, log_dir: Path) -> None:
    """Write `config` to run_dir/nginx.conf and check it with `nginx -t`.

    Raises:
        StackError: with nginx's complaint.
    """
    (run_dir / "tmp").mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "nginx.conf").write_text(config)
    result = subprocess.run(
        [*_nginx_argv(run_dir, log_dir), "-t", "-q"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise StackError(f"nginx -t rejected {run_dir / 'nginx.conf'}:\n{result.stderr}")


def start_gateway(
    layout: GatewayLayout, run_dir: Path, log_dir: Path, timeout: float = 15.0
) -> Child:
    """Render, check and start nginx in the foreground; wait until every listener accepts."""
    check_gateway_config(render_gateway_config(layout, run_dir, log_dir), run_dir, log_dir)
    argv = [*_nginx_argv(run_dir, log_dir), "-g", "daemon off;"]
    child = Child.spawn("gateway", argv, log_dir / "gateway.log")
    ports = [layout.gateway_port, *layout.vip_ports.values()]
    listening = lambda: all(tcp_answers("127.0.0.1", port) for port in ports)  # noqa: E731
    wait_until(listening, "nginx gateway", timeout, child)
    return child


# --- the stack ------------------------------------------------------------------------------


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

    @property
    def logs(self) -> Path:
        return self.log_dir or self.run_dir / "logs"


@dataclass
class Instance:
    """One running service instance."""

    service: str
    name: str
    port: int
    child: Child

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


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
        for service in SERVICES:
            ports = [i.port for i in self.instances if i.service == service]
            unready = {port for port in ports if not self._ready(port)}
            if len(unready) < len(ports):
                down |= unready
        if down == self._down:
            return False
        s = self.settings
        (s.run_dir / "nginx.conf").write_text(
            render_gateway_config(self.layout, s.run_dir, s.logs, down)
        )
        self.gateway.proc.send_signal(signal.SIGHUP)  # nginx reloads; old workers finish first
        left_out = sorted(i.name for i in self.instances if i.port in down)
        print(f"devstack: gateway routes around {', '.join(left_out) or 'no instance'}", flush=True)
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
        ports = iter(free_ports(instance_count + len(SERVICES) + 1))
        gateway_port = s.gateway_port or next(ports)
        vip_ports = {svc: next(ports) for svc in SERVICES}
        instance_ports = {svc: [next(ports) for _ in self._numbers(svc)] for svc in SERVICES}
        return GatewayLayout(gateway_port, vip_ports, instance_ports)

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
        return env | s.extra_env

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
        argv = [sys.executable, "-m", f"nocturnal.{service}"]
        env = self.service_env(service, name, port)
        child = Child.spawn(name, argv, self.settings.logs / f"{name}.log", env)
        return Instance(service, name, port, child)

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
        """Children that exited since the last call (each reported once)."""
        children = [instance.child for instance in self.instances]
        children += [self.gateway] if self.gateway else []
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


# --- command line ---------------------------------------------------------------------------


def settings_from_cli(argv: Sequence[str] | None, environ: Mapping[str, str]) -> StackSettings:
    """Settings from the command line, then the environment, then the defaults."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.devstack",
        description="Run every Nocturnal service behind a local nginx gateway.",
    )
    for service in SERVICES:
        parser.add_argument(f"--{service}", type=int, metavar="N", help=f"{service} instances")
    parser.add_argument("--gateway-port", type=int, help="public port (default 8080)")
    parser.add_argument("--moto", action="store_true", help="start a moto S3 server, use s3")
    args = parser.parse_args(argv)

    def count(service: str) -> int:
        given = getattr(args, service)
        if given is not None:
            return int(given)
        return int(environ.get(f"{service.upper()}_INSTANCES", DEFAULT_INSTANCES[service]))

    return StackSettings(
        instances={service: count(service) for service in SERVICES},
        gateway_port=args.gateway_port or int(environ.get("GATEWAY_PORT", "8080")),
        mongo_url=environ.get("MONGO_URL") or None,
        redis_url=environ.get("REDIS_URL") or DEFAULT_REDIS_URL,
        amqp_url=environ.get("AMQP_URL") or DEFAULT_AMQP_URL,
        s3_endpoint_url=environ.get("S3_ENDPOINT_URL") or None,
        moto=args.moto,
        s3_bucket=environ.get("S3_BUCKET") or DEFAULT_S3_BUCKET,
        events_exchange=environ.get("EVENTS_EXCHANGE") or DEFAULT_EVENTS_EXCHANGE,
    )


def _stop_on_signal(signum: int, frame: object) -> None:
    # Once is enough: a second Ctrl-C must not cut the shutdown short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def watch(stack: Stack) -> None:
    """Report any instance or the gateway exiting, until interrupted."""
    while True:
        for child in stack.exited():
            print(
                f"devstack: {child.name} exited with code {child.proc.returncode}; "
                f"last lines of {child.log_path}:\n{child.tail()}",
                flush=True,
            )
        time.sleep(1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack until Ctrl-C or SIGTERM; non-zero exit when anything fails to start."""
    try:
        settings = settings_from_cli(argv, os.environ)
    except ValueError as exc:
        print(f"devstack: bad instance count or port: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    stack = Stack(settings)
    try:
        stack.start()
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("devstack: interrupted while starting; stopped what it had started", flush=True)
        return 130
    print(f"{stack.describe()}\n\nNocturnal is up at {stack.base_url}  (Ctrl-C stops it)")
    try:
        watch(stack)
    except KeyboardInterrupt:
        print("\ndevstack: stopping ...", flush=True)
    finally:
        stack.stop()
    print("devstack: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
