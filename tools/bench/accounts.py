"""Bench users and data over the public API: register, log in, post a duty.

Access tokens live 15 minutes and a full run is about as long, so an `Account` logs in again
before handing out a token older than `TOKEN_REFRESH_S`.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

TOKEN_REFRESH_S = 8 * 60
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ApiError(RuntimeError):
    """A setup call did not get the status it needed."""


def call(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    """Send a JSON request; the decoded JSON answer (None for 204).

    Raises:
        ApiError: any status >= 400 (with the problem body).
    """
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _DIRECT.open(request, timeout=30) as response:
            text = response.read()
    except urllib.error.HTTPError as exc:
        raise ApiError(f"{method} {url} -> {exc.code}: {exc.read()[:500]!r}") from None
    return json.loads(text) if text else None


@dataclass
class Account:
    """A user registered through `base_url` (the gateway or an auth instance)."""

    base_url: str
    email: str
    password: str
    role: str
    user_id: str = ""
    _token: str = ""
    _issued: float = field(default=0.0)

    @classmethod
    def register(cls, base_url: str, role: str) -> Account:
        email = f"bench.{role}.{secrets.token_hex(4)}@example.com"
        account = cls(base_url, email, secrets.token_urlsafe(18), role)
        body = {"email": email, "password": account.password, "name": "Bench User", "role": role}
        answer = call("POST", f"{base_url}/api/auth/register", body)
        account.user_id = answer["user"]["id"]
        account._keep(answer["access_token"])
        return account

    @property
    def credentials(self) -> dict[str, str]:
        return {"email": self.email, "password": self.password}

    def token(self) -> str:
        """A bearer token valid for at least the next several minutes."""
        if time.monotonic() - self._issued > TOKEN_REFRESH_S:
            answer = call("POST", f"{self.base_url}/api/auth/login", self.credentials)
            self._keep(answer["access_token"])
        return self._token

    def _keep(self, token: str) -> None:
        self._token, self._issued = token, time.monotonic()


def register_many(base_url: str, role: str, count: int, workers: int = 4) -> list[Account]:
    """`count` accounts registered through `base_url`, `workers` at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda _: Account.register(base_url, role), range(count)))


def duty_body(days_ahead: int = 3) -> dict[str, Any]:
    """A valid POST /api/duties body: an overnight ICU shift."""
    return {
        "title": "Night shift ICU",
        "hospital_name": "Bench General",
        "department": "Intensive Care",
        "specialty": "Critical Care",
        "description": "Benchmark duty.",
        "date": (date.today() + timedelta(days=days_ahead)).isoformat(),
        "start_time": "20:00",
        "end_time": "08:00",
        "hourly_rate": 95.5,
        "positions_needed": 2,
        "urgency": "URGENT",
        "location": "Pune",
        "requirements": {"minimum_experience": 2, "required_skills": ["ventilation"]},
    }


def post_duty(base_url: str, admin: Account) -> str:
    """Post one duty as `admin` (a hospital_admin); its id."""
    answer = call("POST", f"{base_url}/api/duties", duty_body(), admin.token())
    return str(answer["id"])
