"""State the phases of one run share: members, posted duties, applications."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tools.demo.cast import DUTIES, Persona
from tools.demo.client import GatewayClient
from tools.demo.photos import Photo
from tools.demo.steps import require


@dataclass
class Member:
    """A registered user: the persona plus what the platform handed back."""

    persona: Persona
    email: str
    password: str
    user_id: str
    access_token: str
    registered_at: float = field(default_factory=time.monotonic)
    photo: Photo | None = None
    upload_id: str | None = None


@dataclass
class DemoContext:
    """State shared by the phases of one run."""

    client: GatewayClient
    run_id: str
    today: date
    members: dict[str, Member] = field(default_factory=dict)
    duties: dict[int, dict[str, Any]] = field(default_factory=dict)
    applications: dict[tuple[str, int], str] = field(default_factory=dict)
    profiles_ready: bool = False

    def member(self, first: str) -> Member:
        require(first in self.members, f"{first} is not registered")
        return self.members[first]

    def duty_id(self, index: int) -> str:
        require(index in self.duties, f"duty {DUTIES[index].title!r} was not posted")
        return str(self.duties[index]["id"])

    def application_id(self, first: str, index: int) -> str:
        require((first, index) in self.applications, f"{first} did not apply to duty {index}")
        return self.applications[(first, index)]
