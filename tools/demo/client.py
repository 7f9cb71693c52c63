"""The HTTP client of the demo: whole replies, status expectations, an audit of every envelope."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDictProxy

from tools.demo.report import DivergenceError

APPLICATION_JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
PROBLEM_FIELDS = ("type", "title", "status", "detail", "instance", "request_id")
REQUEST_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Reply:
    """One HTTP response, read completely."""

    method: str
    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    elapsed_ms: float

    @property
    def label(self) -> str:
        parts = urlsplit(self.url)
        return f"{self.method} {parts.path}" + (f"?{parts.query}" if parts.query else "")

    @property
    def media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Request-ID")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise DivergenceError(self.label, "a JSON body", self.describe()) from exc

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise DivergenceError(self.label, "a JSON object", self.describe())
        return body

    def describe(self) -> str:
        text = self.body[:240].decode("utf-8", "replace")
        return f"HTTP {self.status} ({self.media_type or 'no Content-Type'}) {text}".rstrip()


def problem_issues(reply: Reply) -> list[str]:
    """What keeps an error response from being the RFC 9457 problem+json DESIGN §1 requires."""
    issues = [] if reply.request_id else ["no X-Request-ID header"]
    if reply.media_type != PROBLEM_JSON:
        return [*issues, f"Content-Type {reply.media_type or 'missing'}, not {PROBLEM_JSON}"]
    try:
        body = json.loads(reply.body)
    except ValueError:
        return [*issues, "problem+json body is not JSON"]
    if not isinstance(body, dict):
        return [*issues, "problem+json body is not an object"]
    missing = [name for name in PROBLEM_FIELDS if name not in body]
    if missing:
        issues.append(f"problem+json lacks {', '.join(missing)}")
    if "status" in body and body["status"] != reply.status:
        issues.append(f"problem status {body['status']!r} differs from HTTP {reply.status}")
    if "request_id" in body and body["request_id"] != reply.request_id:
        issues.append("problem request_id differs from the X-Request-ID header")
    return issues


@dataclass
class EnvelopeAudit:
    """Checks every gateway response for X-Request-ID, JSON bodies and problem+json errors."""

    responses: int = 0
    errors: int = 0
    request_ids: Counter[str] = field(default_factory=Counter)
    issues: dict[str, tuple[int, str]] = field(default_factory=dict)

    def inspect(self, reply: Reply, *, download: bool = False) -> None:
        self.responses += 1
        if reply.request_id:
            self.request_ids[reply.request_id] += 1
        if reply.status >= 400:
            self.errors += 1
            for issue in problem_issues(reply):
                self._flag(f"error response: {issue}", reply)
            return
        if not reply.request_id:
            self._flag("response without X-Request-ID", reply)
        if not download and reply.body and reply.media_type != APPLICATION_JSON:
            self._flag(f"success body is {reply.media_type or 'untyped'}, not JSON", reply)

    def _flag(self, issue: str, reply: Reply) -> None:
        count, example = self.issues.get(issue, (0, f"{reply.label} -> HTTP {reply.status}"))
        self.issues[issue] = (count + 1, example)


class GatewayClient:
    """A thin aiohttp wrapper: asserts status codes and audits every response's envelope."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.audit = EnvelopeAudit()
        self.latencies_ms: list[float] = []
        self.unreachable = False  # could not connect to the gateway at all
        self._session = session

    @classmethod
    @asynccontextmanager
    async def connect(cls, base_url: str) -> AsyncIterator[GatewayClient]:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield cls(session, base_url)

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for a gateway path, a relative URL the API returned, or a full URL."""
        return urljoin(self.base_url + "/", path_or_url)

    def is_gateway(self, url: str) -> bool:
        return urlsplit(url)[:2] == urlsplit(self.base_url)[:2]

    async def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        download: bool = False,
    ) -> Reply:
        """Send one request and return the whole response; no status expectation."""
        url = self.url_for(path)
        request_headers = dict(headers or {})
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        extra: dict[str, Any] = {} if json_body is None else {"json": json_body}
        started = time.perf_counter()
        try:
            async with self._session.request(
                method, url, headers=request_headers, data=data, params=params, **extra
            ) as response:
                body = await response.read()
                status, response_headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            if isinstance(exc, aiohttp.ClientConnectorError) and self.is_gateway(url):
                self.unreachable = True
            got = f"no response ({type(exc).__name__}: {exc})"
            raise DivergenceError(f"{method} {url}", "an HTTP response", got) from exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.latencies_ms.append(elapsed_ms)
        reply = Reply(method, url, status, response_headers, body, elapsed_ms)
        if self.is_gateway(url):
            self.audit.inspect(reply, download=download)
        return reply

    async def expect(
        self,
        method: str,
        path: str,
        status: int | Collection[int],
        *,
        retry_busy: bool = False,
        **request: Any,
    ) -> Reply:
        """Send a request and insist on one of the expected statuses.

        With `retry_busy`, a 503 carrying Retry-After (DESIGN §2: argon2 saturation) is retried a
        few times after the advised pause, as a well-behaved client does.
        """
        wanted = {status} if isinstance(status, int) else set(status)
        for _ in range(4):
            reply = await self.send(method, path, **request)
            if not (retry_busy and reply.status == 503 and reply.headers.get("Retry-After")):
                break
            await asyncio.sleep(min(retry_after_seconds(reply) or 1, 3))
        if reply.status not in wanted:
            expected = " or ".join(f"HTTP {code}" for code in sorted(wanted))
            raise DivergenceError(reply.label, expected, reply.describe())
        return reply

    async def expect_json(
        self, method: str, path: str, status: int | Collection[int] = 200, **request: Any
    ) -> dict[str, Any]:
        return (await self.expect(method, path, status, **request)).json_object()

    async def download(self, url: str) -> Reply:
        """GET a URL the API handed out (signed or photo URL) without credentials."""
        return await self.expect("GET", url, 200, download=True)


def retry_after_seconds(reply: Reply) -> int | None:
    value = reply.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None
