"""The original Node stack (`SEED_STACK_DIR`, read-only) as P1's baseline, on the bench's servers.

Its npm modules are installed once per package-lock into `.run/bench/seed-node/<hash>/` (the
folder itself is read-only and nothing is copied into the repository); `node` finds them through
NODE_PATH while running `app.js` where it lies.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from tools.devstack import Child, free_ports, http_ok, stop_children, wait_until

NPM_TIMEOUT_S = 600


class SeedStackError(RuntimeError):
    """The Node stack could not be installed, seeded or started."""


@dataclass
class SeedStack:
    """A running original stack: its URL, one duty id and one token its routes accept."""

    url: str
    duty_id: str
    token: str
    child: Child

    def stop(self) -> None:
        stop_children([self.child])


def node_binary() -> str | None:
    """The node executable, or None."""
    return shutil.which("node")


def install_modules(seed_dir: Path, cache_dir: Path) -> Path:
    """`npm ci` the stack's locked dependencies into a cache folder; its node_modules path.

    Raises:
        SeedStackError: npm is missing or failed.
    """
    lock = seed_dir / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes() + (seed_dir / "package.json").read_bytes())
    target = cache_dir / digest.hexdigest()[:16]
    modules = target / "node_modules"
    if (target / ".installed").exists():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise SeedStackError("npm is not installed (Debian: apt-get install npm)")
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(seed_dir / name, target / name)
    result = subprocess.run(
        [npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise SeedStackError(f"npm ci failed in {target}:\n{result.stderr[-2000:]}")
    (target / ".installed").touch()
    return modules


def _mongo_url(mongo_url: str, database: str) -> str:
    parts = urllib.parse.urlsplit(mongo_url)
    return f"mongodb://{parts.hostname}:{parts.port}/{database}"


def start_seed_stack(
    seed_dir: Path, *, mongo_url: str, redis_url: str, cache_dir: Path, log_dir: Path
) -> SeedStack:
    """Install, seed (500 duties, one user) and start the Node stack on a free port.

    Raises:
        SeedStackError: with npm's or node's complaint.
    """
    node = node_binary()
    if node is None:
        raise SeedStackError("node is not installed")
    modules = install_modules(seed_dir, cache_dir)
    port = free_ports(1)[0]
    env = {
        **os.environ,
        "NODE_PATH": str(modules),
        "NODE_ENV": "production",
        "PORT": str(port),
        "MONGO_URL": _mongo_url(mongo_url, "seedbench"),
        "REDIS_URL": redis_url,
    }
    app = str(seed_dir / "app.js")
    seeded = subprocess.run(
        [node, app, "seed"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    lines = seeded.stdout.split()
    if seeded.returncode != 0 or len(lines) < 2:
        raise SeedStackError(f"node app.js seed failed:\n{seeded.stderr[-2000:]}")
    duty_id, token = lines[0], lines[1]
    child = Child.spawn("seed-stack", [node, app], log_dir / "seed-stack.log", env)
    url = f"http://127.0.0.1:{port}"
    wait_until(functools.partial(http_ok, f"{url}/api/health"), "Node seed stack", 60, child)
    return SeedStack(url, duty_id, token, child)
