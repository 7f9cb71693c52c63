"""tools.devstack.gateway: the rendered nginx config, and routing through a real nginx."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.render import public_locations
from tools.devstack import (
    SERVICES,
    GatewayLayout,
    Stack,
    StackError,
    check_gateway_config,
    free_ports,
    render_gateway_config,
    start_gateway,
    stop_children,
)

MIB = 1024 * 1024
NGINX_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "request_id"}

needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")


# --- a real nginx in front of echo backends -------------------------------------------------


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with what it received, and an X-Request-ID of its own."""

    protocol_version = "HTTP/1.1"
    server: EchoBackend

    def do_GET(self) -> None:
        received = 0
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            received, remaining = received + len(chunk), remaining - len(chunk)
        headers = {name: self.headers.get_all(name) for name in set(self.headers.keys())}
        answer = {"service": self.server.service, "path": self.path, "headers": headers}
        body = json.dumps({**answer, "body_bytes": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-ID", "set-by-the-service")
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EchoBackend(ThreadingHTTPServer):
    """One stand-in service instance on a free port, serving from a daemon thread."""

    daemon_threads = True

    def __init__(self, service: str) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.service = service
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def send_headers_only(port: int, path: str, content_length: int) -> Reply:
    """A POST that announces `content_length` bytes and sends none: nginx answers from headers."""
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {content_length}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Reply(response.status, response.getheaders(), response.read())


@dataclass
class Gateway:
    layout: GatewayLayout

    @property
    def port(self) -> int:
        return self.layout.gateway_port

    def vip_port(self, service: str) -> int:
        return self.layout.vip_ports[service]


def layout_for(instance_ports: dict[str, list[int]]) -> GatewayLayout:
    gateway_port, unavailable_port, *vip_ports = free_ports(2 + len(SERVICES))
    vips = dict(zip(SERVICES, vip_ports, strict=True))
    return GatewayLayout(gateway_port, vips, instance_ports, unavailable_port)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """nginx with the rendered config, one echo backend per service."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    backends = [EchoBackend(service) for service in SERVICES]
    layout = layout_for({backend.service: [backend.port] for backend in backends})
    run_dir = tmp_path_factory.mktemp("gateway")
    child = start_gateway(layout, run_dir, run_dir / "logs")
    yield Gateway(layout)
    stop_children([child])
    for backend in backends:
        backend.shutdown()
        backend.server_close()


def assert_nginx_problem(reply: Reply, status: int) -> dict[str, Any]:
    assert reply.status == status
    assert reply.header_values("Content-Type") == ["application/problem+json"]
    [request_id] = reply.header_values("X-Request-ID")
    problem = reply.json()
    assert set(problem) == PROBLEM_FIELDS
    assert problem["status"] == status
    assert problem["request_id"] == request_id
    return dict(problem)


# --- config rendering -----------------------------------------------------------------------


def rendered(tmp_path: Path) -> str:
    return render_gateway_config(
        layout_for({s: [1001, 1002] for s in SERVICES}), tmp_path, tmp_path
    )


def test_rendering_fills_every_placeholder_and_lists_every_instance(tmp_path: Path) -> None:
    config = rendered(tmp_path)

    assert "{{" not in config
    assert config.count("server 127.0.0.1:1001 max_fails=3 fail_timeout=10s;") == len(SERVICES)
    assert config.count("server 127.0.0.1:1002 max_fails=3 fail_timeout=10s;") == len(SERVICES)


def public_routes(config: str) -> dict[str, str]:
    """The public server's locations and where each goes: an upstream, or a status nginx returns."""
    return {location: target for location, target, _ in public_locations(config)}


def test_rendered_config_routes_each_public_prefix_to_its_service(tmp_path: Path) -> None:
    assert public_routes(rendered(tmp_path)) == {
        "= /.well-known/jwks.json": "auth",
        "/api/auth/": "auth",
        "~ ^/api/(uploads(/|$)|files/)": "upload",
        "/api/": "api",
        "= /api": "404",
        "= /api/auth": "404",
        "/": "404",
        "= /_gateway/problem": "200",
    }


def test_rendered_config_lets_uploads_stream_up_to_21_mib(tmp_path: Path) -> None:
    config = rendered(tmp_path)
    upload = config.split("location ~ ^/api/(uploads(/|$)|files/) {")[1].split("location")[0]

    assert "client_max_body_size 21m;" in upload
    assert "proxy_request_buffering off;" in upload


def test_rendered_config_overwrites_client_forwarding_headers(tmp_path: Path) -> None:
    public = rendered(tmp_path).split("# The public gateway.")[1].split("# Internal listeners")[0]

    assert "proxy_set_header X-Real-IP $remote_addr;" in public
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in public
    assert "$proxy_add_x_forwarded_for" not in public


def test_rendered_config_keeps_only_well_formed_client_request_ids(tmp_path: Path) -> None:
    config = rendered(tmp_path)
    request_id_map = re.search(r"map \$http_x_request_id \$req_id \{\n(.*?)\n    \}", config, re.S)

    assert request_id_map is not None
    assert request_id_map.group(1).split() == [
        "default",
        "$request_id;",
        '"~^[A-Za-z0-9._-]{1,128}$"',
        "$http_x_request_id;",
    ]
    assert "proxy_set_header X-Request-ID $req_id;" in config
    assert "add_header X-Request-ID $req_id always;" in config


@needs_nginx
def test_rendered_config_passes_nginx_t(tmp_path: Path) -> None:
    check_gateway_config(rendered(tmp_path), tmp_path, tmp_path / "logs")


@needs_nginx
def test_nginx_t_failure_is_a_clear_stack_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="nginx -t rejected"):
        check_gateway_config("http { nonsense; }", tmp_path, tmp_path / "logs")


# --- routing through a real nginx -----------------------------------------------------------


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize(
    ("method", "path", "service"),
    [
        ("GET", "/.well-known/jwks.json", "auth"),
        ("POST", "/api/auth/login", "auth"),
        ("POST", "/api/uploads?kind=document", "upload"),
        ("GET", "/api/uploads", "upload"),
        ("DELETE", "/api/uploads/abc", "upload"),
        ("GET", "/api/files/signed-token?sig=x", "upload"),
        ("GET", "/api/health", "api"),
        ("GET", "/api/duties?limit=5", "api"),
        ("POST", "/api/applications/a1/accept", "api"),
    ],
)
def test_public_routes_reach_their_service(
    gateway: Gateway, method: str, path: str, service: str
) -> None:
    reply = send(gateway.port, method, path)

    assert reply.status == 200
    assert reply.json()["service"] == service
    assert reply.json()["path"] == path


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/v1/check",
        "/api",
        "/api/auth",
    ],
)
def test_internal_and_unknown_paths_are_a_404_problem_from_nginx(
    gateway: Gateway, path: str
) -> None:
    problem = assert_nginx_problem(send(gateway.port, "GET", path), 404)

    assert problem["instance"] == path
    assert problem["title"] == "Not Found"


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize(
    "path", ["/metrics/..%2Fapi/x", "/api/auth/x%2F..%2F..%2Fhealth", "/api/uploads/%2e%2e/x%5c"]
)
def test_encoded_dots_and_slashes_in_a_proxied_path_are_a_400_problem(
    gateway: Gateway, path: str
) -> None:
    assert_nginx_problem(send(gateway.port, "GET", path), 400)


@pytest.mark.integration
@needs_nginx
def test_encoded_dot_segments_cannot_reach_internal_routes(gateway: Gateway) -> None:
    assert_nginx_problem(send(gateway.port, "GET", "/api/%2e%2e/metrics"), 404)


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /api/x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", 400),
        (b"GET /api/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET /api/health HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ],
)
def test_requests_nginx_cannot_parse_get_a_problem_too(
    gateway: Gateway, raw: bytes, status: int
) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        reply = Reply(response.status, response.getheaders(), response.read())

    assert_nginx_problem(reply, status)


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize(
    "path", ["/api/duties", "/api/auth/login", "/api/uploads", "/.well-known/jwks.json"]
)
@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FOO"])
def test_methods_no_route_serves_are_a_405_problem_before_any_service(
    gateway: Gateway, path: str, method: str
) -> None:
    problem = assert_nginx_problem(send(gateway.port, method, path), 405)
    assert problem["title"] == "Method Not Allowed"


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize("path", ["/api/duties", "/api/auth/login", "/api/uploads"])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "x-unknown"])
def test_content_coded_request_bodies_are_a_415_problem_before_any_service(
    gateway: Gateway, path: str, coding: str
) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    reply = send(gateway.port, "POST", path, headers, b"not really coded")
    assert assert_nginx_problem(reply, 415)["title"] == "Unsupported Media Type"


@pytest.mark.integration
@needs_nginx
def test_identity_coded_bodies_pass(gateway: Gateway) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "identity"}
    assert send(gateway.port, "POST", "/api/duties", headers, b"{}").status == 200


@pytest.mark.integration
@needs_nginx
def test_problem_instance_that_is_not_json_safe_becomes_a_request_urn(gateway: Gateway) -> None:
    problem = assert_nginx_problem(send(gateway.port, "GET", '/nope"\\'), 404)

    assert problem["instance"] == f"urn:nocturnal:request:{problem['request_id']}"


# --- request id -----------------------------------------------------------------------------


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize("request_id", ["abc-DEF_1.2", "a", "x" * 128])
def test_well_formed_client_request_id_is_used_upstream_and_in_the_response(
    gateway: Gateway, request_id: str
) -> None:
    reply = send(gateway.port, "GET", "/api/health", {"X-Request-ID": request_id})

    assert reply.header_values("X-Request-ID") == [request_id]
    assert reply.json()["headers"]["X-Request-ID"] == [request_id]


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize("request_id", ["has space", "semi;colon", "x" * 129, "ünïcode", ""])
def test_malformed_client_request_id_is_replaced_by_nginx(
    gateway: Gateway, request_id: str
) -> None:
    reply = send(gateway.port, "GET", "/api/health", {"X-Request-ID": request_id})

    [response_id] = reply.header_values("X-Request-ID")
    assert NGINX_REQUEST_ID.match(response_id)
    assert reply.json()["headers"]["X-Request-ID"] == [response_id]


@pytest.mark.integration
@needs_nginx
def test_response_carries_one_request_id_not_the_services_own(gateway: Gateway) -> None:
    reply = send(gateway.port, "GET", "/api/health")

    [response_id] = reply.header_values("X-Request-ID")
    assert response_id != "set-by-the-service"


@pytest.mark.integration
@needs_nginx
def test_nginx_errors_carry_the_clients_request_id(gateway: Gateway) -> None:
    reply = send(gateway.port, "GET", "/metrics", {"X-Request-ID": "trace-me"})

    assert assert_nginx_problem(reply, 404)["request_id"] == "trace-me"


# --- client address -------------------------------------------------------------------------


@pytest.mark.integration
@needs_nginx
def test_client_supplied_forwarding_headers_are_overwritten(gateway: Gateway) -> None:
    spoofed = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6"}
    seen = send(gateway.port, "GET", "/api/health", spoofed).json()["headers"]

    assert seen["X-Real-IP"] == ["127.0.0.1"]
    assert seen["X-Forwarded-For"] == ["127.0.0.1"]
    assert "Forwarded" not in seen


@pytest.mark.integration
@needs_nginx
def test_internal_listener_passes_request_id_and_client_address_through(gateway: Gateway) -> None:
    hop = {
        "X-Request-ID": "from-api-1",
        "X-Real-IP": "203.0.113.9",
        "X-Forwarded-For": "203.0.113.9",
    }
    reply = send(gateway.vip_port("ratelimit"), "POST", "/v1/check", hop, b"{}")
    seen = reply.json()

    assert seen["service"] == "ratelimit"
    assert seen["headers"]["X-Request-ID"] == ["from-api-1"]
    assert seen["headers"]["X-Real-IP"] == ["203.0.113.9"]
    assert seen["headers"]["X-Forwarded-For"] == ["203.0.113.9"]


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize("service", SERVICES)
def test_each_internal_listener_reaches_its_service(gateway: Gateway, service: str) -> None:
    assert send(gateway.vip_port(service), "GET", "/health/ready").json()["service"] == service


# --- body limits ----------------------------------------------------------------------------


@pytest.mark.integration
@needs_nginx
def test_upload_route_streams_a_body_of_21_mib(gateway: Gateway) -> None:
    reply = send(gateway.port, "POST", "/api/uploads?kind=document", body=b"\0" * (21 * MIB))

    assert reply.status == 200
    assert reply.json()["body_bytes"] == 21 * MIB


@pytest.mark.integration
@needs_nginx
def test_upload_route_refuses_more_than_21_mib_with_a_413_problem(gateway: Gateway) -> None:
    reply = send_headers_only(gateway.port, "/api/uploads?kind=document", 21 * MIB + 1)

    assert_nginx_problem(reply, 413)


@pytest.mark.integration
@needs_nginx
def test_api_routes_refuse_bodies_over_1_mib(gateway: Gateway) -> None:
    assert_nginx_problem(send_headers_only(gateway.port, "/api/duties", MIB + 1), 413)
    assert send(gateway.port, "POST", "/api/duties", body=b"x" * MIB).status == 200


@pytest.mark.integration
@needs_nginx
@pytest.mark.parametrize(("method", "path"), [("GET", "/api/health"), ("POST", "/api/auth/login")])
def test_unreachable_service_is_a_503_problem_with_retry_after(
    tmp_path: Path, method: str, path: str
) -> None:
    [closed_port] = free_ports(1)
    layout = layout_for({service: [closed_port] for service in SERVICES})
    child = start_gateway(layout, tmp_path, tmp_path / "logs")
    try:
        reply = send(layout.gateway_port, method, path)
    finally:
        stop_children([child])

    problem = assert_nginx_problem(reply, 503)
    assert problem["title"] == "Service Unavailable"
    assert problem["instance"] == path
    assert reply.header_values("Retry-After") == ["5"]


# --- the whole stack behind its gateway --------------------------------------------------------


@pytest.mark.e2e
def test_api_health_spreads_over_both_api_instances(gateway_stack: Stack) -> None:
    port = int(gateway_stack.base_url.rsplit(":", 1)[1])
    instances = {send(port, "GET", "/api/health").json()["instance"] for _ in range(10)}

    assert instances == {"api-1", "api-2"}


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["/health/ready", "/metrics", "/openapi.json", "/no/such/route"])
def test_stack_keeps_internal_routes_private(gateway_stack: Stack, path: str) -> None:
    port = int(gateway_stack.base_url.rsplit(":", 1)[1])

    assert_nginx_problem(send(port, "GET", path), 404)
