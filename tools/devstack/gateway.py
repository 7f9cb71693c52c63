"""The nginx gateway: render its config from the template, check it with `nginx -t`, start it."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.devstack.errors import StackError
from tools.devstack.instances import SERVICES
from tools.devstack.probes import tcp_answers
from tools.devstack.processes import ROOT, Child, wait_until

GATEWAY_TEMPLATE = ROOT / "gateway" / "nginx.conf.template"


@dataclass(frozen=True)
class GatewayLayout:
    """Where the gateway listens and where each service's instances are."""

    gateway_port: int
    vip_ports: Mapping[str, int]
    instance_ports: Mapping[str, Sequence[int]]


def render_template(template: str, values: Mapping[str, object]) -> str:
    """Fill `{{ name }}` placeholders; nginx's own `$variables` and braces are left alone.

    Raises:
        KeyError: a placeholder without a value.
    """
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(values[m.group(1)]), template)


def render_gateway_config(layout: GatewayLayout, run_dir: Path, log_dir: Path) -> str:
    """The nginx config for `layout`, with every file path inside `run_dir` or `log_dir`."""
    values: dict[str, object] = {
        "gateway_port": layout.gateway_port,
        "pid_path": run_dir / "nginx.pid",
        "log_dir": log_dir,
        "temp_dir": run_dir / "tmp",
    }
    for service in SERVICES:
        values[f"{service}_vip_port"] = layout.vip_ports[service]
        values[f"{service}_servers"] = "\n".join(
            f"        server 127.0.0.1:{port};" for port in layout.instance_ports[service]
        )
    return render_template(GATEWAY_TEMPLATE.read_text(), values)


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
