"""Free ports and "does it answer?" probes for TCP, Redis, AMQP, MongoDB and HTTP; URL redaction."""

from __future__ import annotations

import contextlib
import http.client
import socket
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_PORTS = {"redis": 6379, "rabbitmq": 5672}

# Local probes never go through an HTTP proxy from the environment.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


def host_port(url: str, default_port: int) -> tuple[str, int]:
    """The host and port of `url`; 127.0.0.1 and `default_port` where it names none."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def redis_answers(url: str, timeout: float = 2.0) -> bool:
    """True when a Redis server answers PING at `url` (an auth error also counts as answering)."""
    try:
        with socket.create_connection(
            host_port(url, DEFAULT_PORTS["redis"]), timeout=timeout
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
            host_port(url, DEFAULT_PORTS["rabbitmq"]), timeout=timeout
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


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET `url` answers 200."""
    try:
        with DIRECT.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def http_answer(url: str, timeout: float = 1.0) -> int | None:
    """The status GET `url` answers (0 when the connection is refused), or None when no answer
    came within `timeout` seconds."""
    try:
        with DIRECT.open(url, timeout=timeout) as response:
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
