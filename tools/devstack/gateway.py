"""The nginx gateway: render its config from the one template (`gateway.render`, shared with the
gateway image), check it with `nginx -t`, start it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.render import render_gateway, upstream_servers
from tools.devstack.errors import StackError
from tools.devstack.instances import SERVICES
from tools.devstack.probes import tcp_answers
from tools.devstack.processes import Child, wait_until


@dataclass(frozen=True)
class GatewayLayout:
    """Where the gateway listens and where each service's instances are."""

    gateway_port: int
    vip_ports: Mapping[str, int]
    instance_ports: Mapping[str, Sequence[int]]
    unavailable_port: int  # answers 503 for a service with no instance taking requests


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
        unavailable_port=layout.unavailable_port,
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
