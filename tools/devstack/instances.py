"""The platform's services: their names, start order and default counts; one running instance."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools.devstack.processes import Child

SERVICES = ("auth", "api", "upload", "ratelimit")
# Peers first: auth (JWKS) and ratelimit are ready before the services that call them start.
START_TIERS = (("auth", "ratelimit"), ("upload", "api"))
DEFAULT_INSTANCES = {"auth": 1, "api": 2, "upload": 1, "ratelimit": 1}


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

    @classmethod
    def spawn(
        cls, service: str, name: str, port: int, env: Mapping[str, str], log_dir: Path
    ) -> Instance:
        """Start `python -m nocturnal.<service>` with `env`, logging to log_dir/<name>.log."""
        argv = [sys.executable, "-m", f"nocturnal.{service}"]
        return cls(service, name, port, Child.spawn(name, argv, log_dir / f"{name}.log", env))
