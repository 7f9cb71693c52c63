"""tools.devstack.stack: settings checked before anything starts; a started stack describes itself;
the gateway leaves out instances that are not ready."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools.devstack import (
    READINESS_SILENCE_LIMIT,
    SERVICES,
    Child,
    Server,
    Stack,
    StackError,
    StackSettings,
    free_ports,
    http_ok,
)
from tools.devstack.stack import routing_message


def test_a_stack_without_instances_of_a_service_refuses_to_start(tmp_path: Path) -> None:
    instances = {"auth": 1, "api": 0, "upload": 1, "ratelimit": 1}

    with pytest.raises(StackError, match="api needs at least one instance"):
        Stack(StackSettings(instances=instances, run_dir=tmp_path)).start()


def test_a_stack_that_is_not_started_has_no_base_url(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="not started"):
        _ = Stack(StackSettings(run_dir=tmp_path)).base_url


@pytest.mark.e2e
def test_a_running_stack_lists_every_instance_and_their_internal_listeners(
    gateway_stack: Stack,
) -> None:
    table = gateway_stack.describe()

    for instance in gateway_stack.instances:
        assert f"{instance.name}  " in table
        assert http_ok(f"{instance.url}/health/ready")
    for service in SERVICES:
        assert gateway_stack.service_url(service) in table
        assert http_ok(f"{gateway_stack.service_url(service)}/health/ready")
    assert gateway_stack.base_url in table
    assert gateway_stack.exited() == []


# --- the gateway follows readiness ----------------------------------------------------------


def test_an_instance_answering_not_ready_leaves_the_gateway_at_once() -> None:
    class NotReady(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotReady)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = Stack(StackSettings())
    try:
        assert stack._ready(server.server_address[1]) is False
    finally:
        server.shutdown()
        server.server_close()
    assert stack._ready(free_ports(1)[0]) is False  # nothing listens: refused


def test_a_silent_instance_leaves_the_gateway_after_three_probes() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        stack = Stack(StackSettings())
        port = silent.getsockname()[1]

        answers = [stack._ready(port) for _ in range(READINESS_SILENCE_LIMIT)]

    assert answers == [True] * (READINESS_SILENCE_LIMIT - 1) + [False]


def test_the_routing_message_says_when_no_instance_of_a_service_is_ready() -> None:
    assert routing_message(["api-2"], []) == "gateway routes around api-2"
    assert routing_message([], ["api"]) == (
        "gateway routes around no instance; no api instance is ready, so each still gets requests"
    )


def test_a_server_the_stack_started_is_reported_once_when_it_exits(tmp_path: Path) -> None:
    stack = Stack(StackSettings(run_dir=tmp_path))
    child = Child.spawn("mongo", ["true"], tmp_path / "mongo.log")
    child.proc.wait()
    stack.servers.append(Server("mongo", "mongodb://127.0.0.1:1", "started", child=child))
    stack.servers.append(Server("redis", "redis://127.0.0.1:6379", "reused"))  # not ours

    assert [c.name for c in stack.exited()] == ["mongo"]
    assert stack.exited() == []
