"""tools.devstack.probes: free ports, and each probe telling its server from silence or others."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from tools.devstack import (
    amqp_answers,
    free_ports,
    host_port,
    http_ok,
    mongo_answers,
    port_is_free,
    redact,
    redis_answers,
    tcp_answers,
)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: probes must answer False fast, not hang or raise."""
    return free_ports(1)[0]


@contextlib.contextmanager
def one_reply_server(reply: bytes) -> Iterator[int]:
    """A TCP server on a free port that answers each connection with `reply` and closes it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(64)
                connection.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.fixture
def http_server() -> Iterator[int]:
    """Something that is neither Redis nor AMQP: it answers every request with an HTTP 400."""
    with one_reply_server(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as port:
        yield port


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(5)

    assert len(set(ports)) == 5
    assert all(port_is_free(port) for port in ports)


def test_a_port_someone_listens_on_is_not_free() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        assert not port_is_free(port)
        assert tcp_answers("127.0.0.1", port)


def test_nothing_listening_answers_no_probe(closed_port: int) -> None:
    assert not tcp_answers("127.0.0.1", closed_port)
    assert not redis_answers(f"redis://127.0.0.1:{closed_port}/0")
    assert not amqp_answers(f"amqp://guest:guest@127.0.0.1:{closed_port}/")
    assert not http_ok(f"http://127.0.0.1:{closed_port}/health/ready")
    assert not mongo_answers(f"mongodb://127.0.0.1:{closed_port}/", timeout=0.5)


def test_a_server_of_another_protocol_is_not_taken_for_redis_or_amqp(http_server: int) -> None:
    assert tcp_answers("127.0.0.1", http_server)
    assert not redis_answers(f"redis://127.0.0.1:{http_server}/0")
    assert not amqp_answers(f"amqp://127.0.0.1:{http_server}/")
    assert not http_ok(f"http://127.0.0.1:{http_server}/")


def test_a_redis_that_wants_a_password_still_answers() -> None:
    with one_reply_server(b"-NOAUTH Authentication required.\r\n") as port:
        assert redis_answers(f"redis://127.0.0.1:{port}/0")


def test_urls_without_host_or_port_default_to_localhost_and_the_given_port() -> None:
    assert host_port("redis://", 6379) == ("127.0.0.1", 6379)
    assert host_port("amqp://guest:guest@mq:5673/", 5672) == ("mq", 5673)


def test_printed_urls_hide_passwords() -> None:
    assert redact("amqp://guest:secret@mq:5672/") == "amqp://guest:***@mq:5672/"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
