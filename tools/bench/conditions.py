"""The conditions a run's figures hold under: commit, machine, load, versions, configuration."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import aiormq
import psutil

from tools.devstack import ROOT

PYTHON_PACKAGES = (
    "aiohttp",
    "uvloop",
    "pymongo",
    "redis",
    "aio-pika",
    "argon2-cffi",
    "aioboto3",
    "secantusdb",
    "moto",
)


def _command(argv: list[str]) -> str:
    """First line a command prints (stdout or stderr), or "" when it is missing or fails."""
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        return ""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else ""


def _git(*args: str) -> str:
    return _command(["git", "-C", str(ROOT), *args])


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


async def _rabbitmq_version(url: str) -> str:
    connection = await aiormq.connect(url)
    try:
        return str(connection.server_properties.get("version", ""))
    finally:
        await connection.close()


def versions(amqp_url: str) -> dict[str, str]:
    """Versions of the runtimes, servers and libraries the figures depend on."""
    found = {
        "python": platform.python_version(),
        "node": _command(["node", "--version"]),
        "wrk": _command(["wrk", "-v"]),
        "nginx": _command([shutil.which("nginx") or "/usr/sbin/nginx", "-v"]),
        "redis-server": _command(["redis-server", "--version"]),
    }
    with contextlib.suppress(Exception):
        found["rabbitmq"] = asyncio.run(_rabbitmq_version(amqp_url))
    for package in PYTHON_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def conditions(amqp_url: str) -> dict[str, Any]:
    """Commit, machine, load average and versions, as they are now."""
    dirty = bool(
        _command(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    )
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": dirty,
        "machine": {
            "host": platform.node(),
            "os": platform.platform(),
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        },
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions(amqp_url),
    }
