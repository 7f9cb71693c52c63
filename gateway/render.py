"""Render gateway/nginx.conf.template: for `make run` (tools/devstack) and the gateway image.

One template serves both. Locally each service's instances are 127.0.0.1 ports the runner
picked; in compose the upstreams are the services' DNS names, re-resolved through Docker's
DNS so `docker compose up --scale api=3` adds servers without a restart. Standard library only:
the gateway image renders its config with this file at build time.

    python gateway/render.py compose > nginx.conf
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
SERVICES = ("auth", "api", "upload", "ratelimit")

# Passive health checks: after MAX_FAILS failed attempts within FAIL_TIMEOUT a server is left
# out for FAIL_TIMEOUT (connection refused or reset, timeouts, and the 502/503/504 answers
# named in proxy_next_upstream).
MAX_FAILS = 3
FAIL_TIMEOUT = "10s"

# The compose gateway: Docker's embedded DNS server, names re-resolved every few seconds.
COMPOSE_RESOLVER = "127.0.0.11 valid=5s ipv6=off"
COMPOSE_SERVICE_PORT = 8000
COMPOSE_GATEWAY_PORT = 8080
COMPOSE_VIP_PORTS = {"auth": 8081, "api": 8082, "upload": 8083, "ratelimit": 8084}
# The listener answering 503 for a service with no instance taking requests (each upstream's
# backup server).
COMPOSE_UNAVAILABLE_PORT = 8085


def render_template(template: str, values: Mapping[str, object]) -> str:
    """Fill `{{ name }}` placeholders; nginx's own `$variables` and braces are left alone.

    Raises:
        KeyError: a placeholder without a value.
    """
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(values[m.group(1)]), template)


def upstream_servers(
    addresses: Iterable[str], *, resolve: bool = False, down: Iterable[str] = ()
) -> str:
    """The `server` lines of one upstream block.

    `addresses` are host:port; `resolve` re-resolves a DNS name while nginx runs (nginx
    1.27.3+, needs the `resolver` directive); addresses in `down` get no requests (an instance
    that is not ready, the way Kubernetes leaves it out of a Service's endpoints).
    """
    down = set(down)
    lines = []
    for address in addresses:
        options = [f"max_fails={MAX_FAILS}", f"fail_timeout={FAIL_TIMEOUT}"]
        if resolve:
            options.insert(0, "resolve")
        if address in down:
            options.append("down")
        lines.append(f"        server {address} {' '.join(options)};")
    return "\n".join(lines)


def render_gateway(
    *,
    gateway_port: int,
    pid_path: object,
    log_dir: object,
    temp_dir: object,
    servers: Mapping[str, str],
    vip_ports: Mapping[str, int],
    unavailable_port: int,
    resolver: str | None = None,
) -> str:
    """The whole nginx config: `servers` maps each service to its `upstream_servers` lines."""
    values: dict[str, object] = {
        "gateway_port": gateway_port,
        "unavailable_port": unavailable_port,
        "pid_path": pid_path,
        "log_dir": log_dir,
        "temp_dir": temp_dir,
        "resolver": f"resolver {resolver};" if resolver else "# (no resolver: fixed addresses)",
    }
    for service in SERVICES:
        values[f"{service}_servers"] = servers[service]
        values[f"{service}_vip_port"] = vip_ports[service]
    return render_template(TEMPLATE.read_text(), values)


def render_compose() -> str:
    """The config of the compose gateway image: upstreams by service name, logs to stdout."""
    return render_gateway(
        gateway_port=COMPOSE_GATEWAY_PORT,
        pid_path="/tmp/nginx.pid",
        log_dir="/var/log/nginx",
        temp_dir="/tmp",
        servers={
            service: upstream_servers([f"{service}:{COMPOSE_SERVICE_PORT}"], resolve=True)
            for service in SERVICES
        },
        vip_ports=COMPOSE_VIP_PORTS,
        unavailable_port=COMPOSE_UNAVAILABLE_PORT,
        resolver=COMPOSE_RESOLVER,
    )


def public_locations(config: str) -> list[tuple[str, str, str]]:
    """The public server's locations of a rendered config, in the order written:
    (location, upstream it proxies to or status it returns, the block's body)."""
    public = config.split("# The public gateway.")[1].split("# Internal listeners")[0]
    locations = []
    for match in re.finditer(r"location ([^{]+?) \{", public):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(public[end], 0)
            end += 1
        body = public[match.end() : end]
        target = re.search(r"proxy_pass http://(\w+);", body) or re.search(r"return (\d+)", body)
        locations.append((match.group(1), target.group(1) if target else "", body))
    return locations


def main(argv: list[str]) -> int:
    """`render.py compose`: print the compose gateway's config."""
    if argv != ["compose"]:
        print("usage: python gateway/render.py compose", file=sys.stderr)
        return 2
    sys.stdout.write(render_compose())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
