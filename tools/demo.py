"""Demo scenario: drives the public HTTP API through the gateway and checks it against DESIGN §1.

Hospital admins and clinicians register, upload profile photos, post duties, apply, accept up to
capacity and get throttled on a burst of bad logins, all over real HTTP through the gateway.
Every deviation from the contract is collected as a divergence (expected vs got) in a
`DemoReport`; `make demo` prints it and exits non-zero when there is any.

Usage: ``uv run python -m tools.demo [--base-url URL]`` (default ``$GATEWAY_URL`` or
http://localhost:8080). The e2e tests call `run_demo(base_url)` directly.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import itertools
import json
import os
import re
import secrets
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from PIL import Image, ImageDraw, ImageFont, ImageOps

DEFAULT_BASE_URL = "http://localhost:8080"
APPLICATION_JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
PROBLEM_FIELDS = ("type", "title", "status", "detail", "instance", "request_id")
REQUEST_TIMEOUT_S = 20.0
EVENT_WAIT_S = 10.0  # bounded wait for effects that travel through RabbitMQ
POLL_INTERVAL_S = 0.25
PLATFORM_FEE_PERCENT = Decimal(5)
CENT = Decimal("0.01")
MONEY_TOLERANCE = CENT
AUTH_WINDOW_S = 15 * 60
BAD_LOGIN_ATTEMPTS = 10
BURST_AFTER_REGISTRATION_S = 3.0

T = TypeVar("T")
Role = Literal["doctor", "nurse", "hospital_admin"]


# --- Divergences and the report ---------------------------------------------------------------


class DivergenceError(Exception):
    """The platform answered differently from the contract; ends the current phase."""

    def __init__(self, what: str, expected: object, got: object) -> None:
        super().__init__(f"{what}: expected {expected}, got {got}")
        self.what = what
        self.expected = expected
        self.got = got


class PhaseSkipped(Exception):
    """A phase cannot run because an earlier one did not produce what it needs."""


@dataclass(frozen=True)
class Line:
    """One line of a section: a passed check (ok), a divergence (not ok) or a note (None)."""

    ok: bool | None
    text: str


@dataclass
class Section:
    """The outcome of one phase of the scenario."""

    title: str
    lines: list[Line] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None

    def verify(self, what: str, expected: object, got: object, ok: bool | None = None) -> bool:
        """Record a check (passed or not); `ok` defaults to ``expected == got``."""
        passed = expected == got if ok is None else ok
        self.lines.append(Line(passed, what if passed else _mismatch(what, expected, got)))
        return passed

    def ensure(self, what: str, expected: object, got: object, ok: bool | None = None) -> bool:
        """Like `verify`, but only a failure is recorded (for checks repeated per item)."""
        passed = expected == got if ok is None else ok
        if not passed:
            self.lines.append(Line(False, _mismatch(what, expected, got)))
        return passed

    def passed(self, what: str) -> None:
        self.lines.append(Line(True, what))

    def failed(self, what: str, expected: object, got: object) -> None:
        self.lines.append(Line(False, _mismatch(what, expected, got)))

    def note(self, text: str) -> None:
        self.lines.append(Line(None, text))

    @property
    def divergences(self) -> list[str]:
        return [line.text for line in self.lines if line.ok is False]


def _mismatch(what: str, expected: object, got: object) -> str:
    return f"{what}: expected {expected}, got {got}"


@dataclass
class DemoReport:
    """Everything the scenario saw: sections of checks, divergences and key figures."""

    base_url: str
    run_id: str
    sections: list[Section] = field(default_factory=list)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def divergences(self) -> list[str]:
        return [f"[{s.title}] {text}" for s in self.sections for text in s.divergences]

    @property
    def ok(self) -> bool:
        return not self.divergences

    def render(self) -> str:
        parts = [render_header(self.base_url, self.run_id)]
        parts += [render_section(section) for section in self.sections]
        parts.append(self.render_summary())
        return "\n".join(parts)

    def render_summary(self) -> str:
        checks = sum(1 for s in self.sections for line in s.lines if line.ok is not None)
        divergences = self.divergences
        lines = [
            "",
            f"Summary: {checks} checks, {len(divergences)} divergences, "
            f"{len(self.latencies_ms)} requests ({latency_figures(self.latencies_ms)}), "
            f"{self.seconds:.1f} s",
        ]
        if divergences:
            lines.append("Divergences:")
            lines += [f"  {n}. {text}" for n, text in enumerate(divergences, 1)]
        lines.append(
            "RESULT: " + ("OK, the platform matches the contract" if self.ok else "FAILED")
        )
        return "\n".join(lines)


def render_header(base_url: str, run_id: str) -> str:
    return f"Nocturnal demo: run {run_id} against {base_url}"


def render_section(section: Section) -> str:
    marks = {True: "✓", False: "✗", None: "·"}
    lines = [f"\n== {section.title} ({section.seconds:.2f} s)"]
    lines += [f"  {marks[line.ok]} {line.text}" for line in section.lines]
    if section.skipped:
        lines.append(f"  - skipped: {section.skipped}")
    return "\n".join(lines)


def latency_figures(latencies_ms: list[float]) -> str:
    if len(latencies_ms) < 2:
        return "no latency figures"
    cuts = statistics.quantiles(latencies_ms, n=20)
    return f"p50 {cuts[9]:.0f} ms, p95 {cuts[18]:.0f} ms, max {max(latencies_ms):.0f} ms"


# --- HTTP client --------------------------------------------------------------------------------


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


# --- Small helpers --------------------------------------------------------------------------------


def need(body: Mapping[str, Any], key: str, where: str) -> Any:
    """The value of a field the contract promises, or a divergence naming it."""
    if key not in body:
        raise DivergenceError(where, f"field {key!r}", f"fields {sorted(body)}")
    return body[key]


def page_items(body: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    items = need(body, "items", where)
    need(body, "next_cursor", where)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise DivergenceError(where, "items: a list of objects", repr(items)[:200])
    return items


def is_rfc3339(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if is_rfc3339(value) else None


def as_decimal(value: object) -> Decimal | None:
    """A JSON number or numeric string as a Decimal (money may travel either way)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def amount_is(value: object, expected: Decimal) -> bool:
    got = as_decimal(value)
    return got is not None and abs(got - expected) <= MONEY_TOLERANCE


def digest_matches(reported: object, data: bytes) -> bool:
    """True when `reported` is the SHA-256 of `data`, hex (any case) or base64."""
    digest = hashlib.sha256(data).digest()
    return isinstance(reported, str) and reported in {
        digest.hex(),
        digest.hex().upper(),
        base64.b64encode(digest).decode(),
        base64.urlsafe_b64encode(digest).decode().rstrip("="),
    }


async def poll(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float
) -> tuple[T | None, float]:
    """Call `probe` until it returns a value or `timeout_s` passes; returns (value, seconds)."""
    started = time.perf_counter()
    while True:
        value = await probe()
        elapsed = time.perf_counter() - started
        if value is not None or elapsed >= timeout_s:
            return value, elapsed
        await asyncio.sleep(POLL_INTERVAL_S)


async def settle(section: Section, jobs: Collection[Awaitable[T]]) -> list[T]:
    """Run like jobs concurrently; keep the results, record each kind of divergence once."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    kept: list[T] = []
    failures: dict[str, list[DivergenceError]] = {}
    for result in results:
        if isinstance(result, DivergenceError):
            failures.setdefault(str(result.expected), []).append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            kept.append(result)
    for first, *others in failures.values():
        more = f" (and {len(others)} more like it)" if others else ""
        section.failed(first.what + more, first.expected, first.got)
    return kept


def require(condition: bool, reason: str) -> None:
    if not condition:
        raise PhaseSkipped(reason)


# --- The cast and the script ----------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    """Someone in the scenario: who they are and how their profile and photo should look."""

    first: str
    last: str
    role: Role
    photo_format: Literal["JPEG", "PNG"]
    colours: tuple[str, str]
    specialty: str | None = None
    years_experience: int = 0
    skills: tuple[str, ...] = ()
    location: str = "London"

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def initials(self) -> str:
        return self.first[0] + self.last[0]

    @property
    def handle(self) -> str:
        ascii_name = unicodedata.normalize("NFKD", self.name).encode("ascii", "ignore").decode()
        return ascii_name.lower().replace(" ", ".")

    def email(self, run_id: str) -> str:
        return f"{self.handle}.{run_id}@example.com"


# fmt: off
PERSONAS: tuple[Persona, ...] = (
    Persona("Helen", "Marsh", "hospital_admin", "JPEG", ("#1d3557", "#457b9d")),
    Persona("Rahul", "Iyer", "hospital_admin", "PNG", ("#2a9d8f", "#e9c46a"), location="Leeds"),
    Persona(
        "Amara", "Okafor", "doctor", "PNG", ("#6a040f", "#f48c06"), "Critical Care", 7,
        ("ventilator management", "central line placement", "ALS", "trauma care"),
    ),
    Persona(
        "Tomás", "Rivera", "doctor", "JPEG", ("#3a0ca3", "#4cc9f0"), "Emergency Medicine", 5,
        ("ALS", "trauma care", "ventilator management"),
    ),
    Persona(
        "Daniel", "Kim", "doctor", "PNG", ("#283618", "#dda15e"), "Neurology", 9,
        ("stroke thrombolysis", "ALS", "ventilator management"), "Leeds",
    ),
    Persona(
        "Grace", "Liu", "nurse", "JPEG", ("#5f0f40", "#fb8b24"), "Paediatric Nursing", 6,
        ("paediatric life support", "IV cannulation"),
    ),
    Persona(
        "Jonas", "Berg", "nurse", "PNG", ("#03045e", "#00b4d8"), "Acute Medicine Nursing", 4,
        ("IV cannulation", "sepsis screening", "ALS"), "Leeds",
    ),
    Persona(
        "Fatima", "Zahra", "nurse", "JPEG", ("#7b2cbf", "#c77dff"), "Cardiac Nursing", 11,
        ("telemetry", "IV cannulation", "sepsis screening"), "Leeds",
    ),
)
# fmt: on


@dataclass(frozen=True)
class DutyPlan:
    """A duty to post, with the pay figures the platform should compute for it."""

    poster: str
    title: str
    hospital_name: str
    department: str
    specialty: str
    day: int  # days from today
    start_time: str
    end_time: str
    hourly_rate: str
    positions_needed: int
    urgency: Literal["NORMAL", "URGENT", "EMERGENCY"]
    location: str
    minimum_experience: int
    required_skills: tuple[str, ...]
    expected_hours: str

    @property
    def expected_total(self) -> Decimal:
        return (Decimal(self.expected_hours) * Decimal(self.hourly_rate)).quantize(CENT)

    @property
    def expected_net(self) -> Decimal:
        return (self.expected_total * (100 - PLATFORM_FEE_PERCENT) / 100).quantize(CENT)

    def payload(self, today: date) -> dict[str, Any]:
        return {
            "title": self.title,
            "hospital_name": self.hospital_name,
            "department": self.department,
            "specialty": self.specialty,
            "description": f"{self.title} at {self.hospital_name}, {self.department}. "
            "Handover 15 minutes before the start; on-site parking and rest room provided.",
            "date": (today + timedelta(days=self.day)).isoformat(),
            "start_time": self.start_time,
            "end_time": self.end_time,
            "hourly_rate": float(self.hourly_rate),
            "positions_needed": self.positions_needed,
            "urgency": self.urgency,
            "location": self.location,
            "requirements": {
                "minimum_experience": self.minimum_experience,
                "required_skills": list(self.required_skills),
            },
        }


ST_MARYS = "St Mary's General Hospital"
NORTHGATE = "Northgate Royal Infirmary"
# Columns: poster, title, hospital, department, specialty, day (from today), start, end,
# hourly rate, positions, urgency, location, minimum experience, required skills, expected hours.
# fmt: off
DUTIES: tuple[DutyPlan, ...] = (
    DutyPlan("Helen", "Overnight ICU Registrar", ST_MARYS, "Intensive Care Unit", "Critical Care",
             1, "22:00", "06:00", "95.00", 2, "URGENT", "London", 3,
             ("ventilator management",), "8"),
    DutyPlan("Helen", "Emergency Department Night Doctor", ST_MARYS, "Emergency Department",
             "Emergency Medicine", 2, "20:00", "08:00", "110.00", 1, "EMERGENCY", "London", 4,
             ("ALS", "trauma care"), "12"),
    DutyPlan("Helen", "Paediatric Ward Staff Nurse", ST_MARYS, "Paediatrics",
             "Paediatric Nursing", 2, "19:30", "07:30", "48.50", 1, "NORMAL", "London", 2,
             ("paediatric life support",), "12"),
    DutyPlan("Helen", "Maternity Night Midwife Cover", ST_MARYS, "Obstetrics", "Midwifery",
             3, "21:00", "07:00", "52.00", 1, "NORMAL", "London", 2, ("neonatal resuscitation",),
             "10"),
    DutyPlan("Helen", "Weekend Surgical Registrar (morning list)", ST_MARYS, "General Surgery",
             "General Surgery", 4, "08:00", "12:30", "120.00", 1, "NORMAL", "London", 5,
             ("laparoscopic surgery",), "4.5"),
    DutyPlan("Rahul", "Night Nurse, Acute Medical Unit", NORTHGATE, "Acute Medical Unit",
             "Acute Medicine Nursing", 1, "20:00", "08:00", "46.00", 2, "URGENT", "Leeds", 2,
             ("IV cannulation",), "12"),
    DutyPlan("Rahul", "Stroke Unit Night Registrar", NORTHGATE, "Stroke Unit", "Neurology",
             3, "22:30", "07:30", "98.00", 1, "URGENT", "Leeds", 4, ("stroke thrombolysis",),
             "9"),
    DutyPlan("Rahul", "Resus Nurse, Emergency Backfill", NORTHGATE, "Emergency Department",
             "Emergency Nursing", 1, "23:00", "07:00", "62.50", 1, "EMERGENCY", "Leeds", 3,
             ("ALS",), "8"),
    DutyPlan("Rahul", "Anaesthetics Twilight On-Call", NORTHGATE, "Theatres", "Anaesthesia",
             5, "17:00", "23:00", "105.00", 1, "NORMAL", "Leeds", 4, ("airway management",),
             "6"),
    DutyPlan("Rahul", "Night Sister, Cardiology Ward", NORTHGATE, "Cardiology",
             "Cardiac Nursing", 6, "20:00", "08:00", "55.00", 2, "NORMAL", "Leeds", 5,
             ("telemetry",), "12"),
)
OVERNIGHT = 0  # the 22:00 -> 06:00 ICU shift; also filled one accept at a time
RACED = 5  # the acute medical night shift, accepted concurrently

APPLICATIONS: tuple[tuple[str, int], ...] = (
    ("Amara", OVERNIGHT), ("Tomás", OVERNIGHT), ("Daniel", OVERNIGHT),
    ("Grace", RACED), ("Jonas", RACED), ("Fatima", RACED),
    ("Amara", 1), ("Tomás", 1), ("Grace", 2), ("Daniel", 6), ("Jonas", 7), ("Fatima", 9),
)
# fmt: on


@dataclass(frozen=True)
class Photo:
    content: bytes
    content_type: str
    filename: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


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


def make_photo(persona: Persona, run_id: str) -> Photo:
    """A 256 px gradient with the persona's initials, encoded as their JPEG or PNG."""
    gradient = Image.linear_gradient("L").resize((512, 512)).rotate(45).crop((128, 128, 384, 384))
    image = ImageOps.colorize(gradient, black=persona.colours[0], white=persona.colours[1])
    draw = ImageDraw.Draw(image)
    draw.ellipse((28, 28, 228, 228), outline="white", width=6)
    _draw_centred(draw, persona.initials, _font(96), 128)
    _draw_centred(draw, run_id, _font(14), 238)
    buffer = io.BytesIO()
    if persona.photo_format == "JPEG":
        image.save(buffer, "JPEG", quality=88)
        content_type, extension = "image/jpeg", "jpg"
    else:
        image.save(buffer, "PNG", optimize=True)
        content_type, extension = "image/png", "png"
    return Photo(buffer.getvalue(), content_type, f"{persona.handle}-portrait.{extension}")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError):
        return ImageFont.load_default()


def _draw_centred(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    centre_y: int,
) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    origin = ((256 - (right - left)) / 2 - left, centre_y - (bottom - top) / 2 - top)
    draw.text(origin, text, font=font, fill="white")


# --- Phases ---------------------------------------------------------------------------------------


async def check_gateway(ctx: DemoContext, section: Section) -> None:
    """GET /api/health ten times: shape, instance spread, request ids set or echoed."""
    instances: Counter[str] = Counter()
    for _ in range(10):
        body = await ctx.client.expect_json("GET", "/api/health")
        for key in ("status", "service", "instance", "version"):
            need(body, key, "GET /api/health")
        instances[str(body["instance"])] += 1
    section.passed("10 x GET /api/health -> 200 {status, service, instance, version}")
    spread = ", ".join(f"{name} x{count}" for name, count in instances.most_common())
    section.note(f"instances answering: {len(instances)} ({spread})")

    mine = f"demo-{ctx.run_id}-health"
    reply = await ctx.client.expect("GET", "/api/health", 200, headers={"X-Request-ID": mine})
    section.verify("a client-supplied X-Request-ID is kept", mine, reply.request_id)


async def register_users(ctx: DemoContext, section: Section) -> None:
    """Two hospital admins and six clinicians register; a second use of an e-mail is 409."""
    gate = asyncio.Semaphore(4)

    async def register_one(persona: Persona) -> Member:
        async with gate:
            return await register(ctx, section, persona)

    members = await settle(section, [register_one(p) for p in PERSONAS])
    ctx.members = {m.persona.first: m for m in members}
    roles = Counter(m.persona.role for m in members)
    section.verify(
        f"{len(members)} users registered ({', '.join(f'{n} {r}' for r, n in roles.items())})",
        len(PERSONAS),
        len(members),
    )
    helen = ctx.member("Helen")
    payload = {
        "email": helen.email,
        "password": secrets.token_urlsafe(18),
        "name": "Someone Else",
        "role": "doctor",
    }
    reply = await ctx.client.send("POST", "/api/auth/register", json_body=payload)
    section.verify("registering a taken e-mail is refused", "HTTP 409", f"HTTP {reply.status}")


async def register(ctx: DemoContext, section: Section, persona: Persona) -> Member:
    email, password = persona.email(ctx.run_id), secrets.token_urlsafe(18)
    payload = {"email": email, "password": password, "name": persona.name, "role": persona.role}
    body = await ctx.client.expect_json(
        "POST", "/api/auth/register", 201, json_body=payload, retry_busy=True
    )
    where = f"register {persona.name}"
    user = need(body, "user", where)
    section.ensure(f"{where}: token_type", "Bearer", body.get("token_type"))
    expires_in = need(body, "expires_in", where)
    section.ensure(
        f"{where}: expires_in",
        "seconds > 0",
        expires_in,
        isinstance(expires_in, int) and expires_in > 0,
    )
    for key, expected in (("email", email), ("name", persona.name), ("role", persona.role)):
        section.ensure(f"{where}: user.{key}", expected, user.get(key))
    section.ensure(
        f"{where}: user.created_at",
        "RFC 3339",
        user.get("created_at"),
        is_rfc3339(user.get("created_at")),
    )
    access_token = need(body, "access_token", where)
    need(body, "refresh_token", where)
    return Member(persona, email, password, str(need(user, "id", where)), access_token)


async def complete_profiles(ctx: DemoContext, section: Section) -> None:
    """Profiles appear through user.registered; clinicians fill theirs in."""
    require(len(ctx.members) == len(PERSONAS), "registration did not complete")
    started = time.perf_counter()
    profiles = await settle(section, [wait_for_profile(ctx, m) for m in ctx.members.values()])
    ctx.profiles_ready = section.verify(
        f"{len(profiles)} profiles created from user.registered "
        f"(in {time.perf_counter() - started:.2f} s)",
        len(ctx.members),
        len(profiles),
    )
    require(ctx.profiles_ready, "the rest needs every profile")
    for member, profile in profiles:
        for key, expected in (
            ("user_id", member.user_id),
            ("name", member.persona.name),
            ("role", member.persona.role),
        ):
            section.ensure(f"profile of {member.persona.name}: {key}", expected, profile.get(key))

    clinicians = [m for m in ctx.members.values() if m.persona.role != "hospital_admin"]
    patched = await settle(section, [fill_in_profile(ctx, section, m) for m in clinicians])
    section.verify(
        f"{len(patched)} clinicians updated their profiles (PATCH)", len(clinicians), len(patched)
    )

    amara, helen = ctx.member("Amara"), ctx.member("Helen")
    public = await ctx.client.expect_json(
        "GET", f"/api/profiles/{amara.user_id}", token=helen.access_token
    )
    section.verify(
        "an admin reads a clinician's public profile", amara.user_id, public.get("user_id")
    )
    section.verify("the public profile does not expose the e-mail", False, "email" in public)
    reply = await ctx.client.send(
        "PATCH",
        "/api/profiles/me",
        token=amara.access_token,
        json_body={"bio": "x", "is_verified": True},
    )
    section.verify("PATCH with an unknown field is refused", "HTTP 400", f"HTTP {reply.status}")
    await check_bearer_required(ctx, section)


async def wait_for_profile(ctx: DemoContext, member: Member) -> tuple[Member, dict[str, Any]]:
    async def probe() -> dict[str, Any] | None:
        reply = await ctx.client.expect(
            "GET", "/api/profiles/me", (200, 404), token=member.access_token
        )
        return reply.json_object() if reply.status == 200 else None

    profile, waited = await poll(probe, EVENT_WAIT_S)
    if profile is None:
        raise DivergenceError(
            f"GET /api/profiles/me ({member.persona.name})",
            "a profile made from user.registered",
            f"still 404 after {waited:.1f} s",
        )
    return member, profile


async def fill_in_profile(ctx: DemoContext, section: Section, member: Member) -> None:
    persona = member.persona
    changes: dict[str, Any] = {
        "specialty": persona.specialty,
        "years_experience": persona.years_experience,
        "skills": list(persona.skills),
        "bio": f"{persona.role.title()} with {persona.years_experience} years in "
        f"{persona.specialty}; happy to cover nights at short notice.",
        "location": persona.location,
    }
    profile = await ctx.client.expect_json(
        "PATCH", "/api/profiles/me", token=member.access_token, json_body=changes
    )
    for key, expected in changes.items():
        section.ensure(f"PATCH profile of {persona.name}: {key}", expected, profile.get(key))


async def check_bearer_required(ctx: DemoContext, section: Section) -> None:
    for label, headers in (("no token", {}), ("a malformed token", {"Authorization": "Bearer x"})):
        reply = await ctx.client.send("GET", "/api/profiles/me", headers=headers)
        challenge = reply.headers.get("WWW-Authenticate", "")
        section.verify(
            f"GET /api/profiles/me with {label} -> 401 + WWW-Authenticate: Bearer",
            "HTTP 401, WWW-Authenticate: Bearer ...",
            f"HTTP {reply.status}, WWW-Authenticate: {challenge or '(none)'}",
            reply.status == 401 and challenge.lower().startswith("bearer"),
        )


async def upload_photos(ctx: DemoContext, section: Section) -> None:
    """Each member uploads a Pillow-made JPEG or PNG; metadata must match the bytes sent."""
    require(bool(ctx.members), "nobody is registered")
    uploaded = await settle(section, [upload_photo(ctx, section, m) for m in ctx.members.values()])
    sizes = [m.photo.content for m in uploaded if m.photo]
    kinds = Counter(m.photo.content_type for m in uploaded if m.photo)
    section.verify(
        f"{len(uploaded)} profile photos uploaded ({', '.join(f'{n} {t}' for t, n in kinds.items())}"
        f", {sum(map(len, sizes)) / 1024:.0f} KiB)",
        len(ctx.members),
        len(uploaded),
    )
    helen, rahul = ctx.member("Helen"), ctx.member("Rahul")
    require(helen.upload_id is not None, "Helen's upload failed")
    path = f"/api/uploads/{helen.upload_id}"
    own = await ctx.client.expect_json("GET", path, token=helen.access_token)
    section.verify("the owner reads the upload's metadata", helen.upload_id, own.get("id"))
    reply = await ctx.client.send("GET", path, token=rahul.access_token)
    section.verify("someone else's upload is hidden", "HTTP 404", f"HTTP {reply.status}")


async def upload_photo(ctx: DemoContext, section: Section, member: Member) -> Member:
    photo = make_photo(member.persona, ctx.run_id)
    form = aiohttp.FormData()
    form.add_field("file", photo.content, filename=photo.filename, content_type=photo.content_type)
    body = await ctx.client.expect_json(
        "POST",
        "/api/uploads",
        201,
        token=member.access_token,
        data=form,
        params={"kind": "profile-photo"},
    )
    where = f"upload by {member.persona.name}"
    checks = (
        ("kind", "profile-photo", body.get("kind"), None),
        ("content_type", photo.content_type, body.get("content_type"), None),
        ("size", len(photo.content), body.get("size"), None),
        (
            "sha256",
            photo.sha256,
            body.get("sha256"),
            digest_matches(body.get("sha256"), photo.content),
        ),
        ("original_filename", photo.filename, body.get("original_filename"), None),
        ("created_at", "RFC 3339", body.get("created_at"), is_rfc3339(body.get("created_at"))),
    )
    for key, expected, got, ok in checks:
        section.ensure(f"{where}: {key}", expected, got, ok)
    member.photo, member.upload_id = photo, str(need(body, "id", where))
    return member


async def post_duties(ctx: DemoContext, section: Section) -> None:
    """Admins post ten duties; the platform computes hours and pay, overnight shifts included."""
    require({"Helen", "Rahul", "Amara"} <= ctx.members.keys(), "admins or Amara not registered")
    amara = ctx.member("Amara")
    reply = await ctx.client.send(
        "POST", "/api/duties", token=amara.access_token, json_body=DUTIES[1].payload(ctx.today)
    )
    section.verify("a doctor cannot post a duty", "HTTP 403", f"HTTP {reply.status}")

    async def post(index: int) -> tuple[int, dict[str, Any]]:
        return index, await post_duty(ctx, section, DUTIES[index])

    posted = await settle(section, [post(i) for i in range(len(DUTIES))])
    ctx.duties = dict(posted)
    section.verify(
        f"{len(posted)} duties posted by 2 admins (status OPEN, positions_filled 0)",
        len(DUTIES),
        len(posted),
    )
    plan = DUTIES[OVERNIGHT]
    section.note(
        f"overnight {plan.start_time}->{plan.end_time}: {plan.expected_hours} h x "
        f"{plan.hourly_rate} = {plan.expected_total:.2f}, fee {PLATFORM_FEE_PERCENT} %, "
        f"net {plan.expected_net:.2f}"
    )


async def post_duty(ctx: DemoContext, section: Section, plan: DutyPlan) -> dict[str, Any]:
    admin = ctx.member(plan.poster)
    payload = plan.payload(ctx.today)
    duty = await ctx.client.expect_json(
        "POST", "/api/duties", 201, token=admin.access_token, json_body=payload
    )
    where = f"duty {plan.title!r}"
    need(duty, "id", where)
    for key in ("title", "positions_needed", "urgency", "date", "start_time"):
        section.ensure(
            f"{where}: {key}",
            payload[key],
            duty.get(key),
            str(duty.get(key)).startswith(str(payload[key])),
        )
    section.ensure(f"{where}: status", "OPEN", duty.get("status"))
    section.ensure(f"{where}: positions_filled", 0, duty.get("positions_filled"))
    money = (
        ("duration_hours", Decimal(plan.expected_hours)),
        ("total_compensation", plan.expected_total),
        ("platform_fee_percent", PLATFORM_FEE_PERCENT),
        ("net_payment", plan.expected_net),
    )
    for key, expected in money:
        section.ensure(
            f"{where}: {key}", expected, duty.get(key), amount_is(duty.get(key), expected)
        )
    return duty


async def list_duties(ctx: DemoContext, section: Section) -> None:
    """GET /api/duties: cursor pages, soonest first, filters, limit bounds."""
    require(bool(ctx.duties), "no duty was posted")
    token = ctx.member("Grace").access_token
    dates = [(ctx.today + timedelta(days=plan.day)).isoformat() for plan in DUTIES]
    window = {"date_from": min(dates), "date_to": max(dates)}
    items, pages = await walk_duty_pages(ctx, token, window)
    section.note(f"{len(items)} duties between {min(dates)} and {max(dates)} in {pages} pages")
    section.verify(
        f"cursor pagination walked {pages} pages", "more than one page", pages, pages > 1
    )
    ids = [str(item.get("id")) for item in items]
    section.verify("no duty repeated across pages", len(ids), len(set(ids)))
    missing = [ctx.duties[i]["title"] for i in ctx.duties if str(ctx.duties[i]["id"]) not in ids]
    section.verify("every posted duty is listed", [], missing)
    keys = [schedule_key(item) for item in items]
    out_of_order = next(((a, b) for a, b in itertools.pairwise(keys) if a > b), None)
    section.verify(
        "duties come soonest first",
        "(date, start_time) ascending",
        f"{out_of_order[0]} before {out_of_order[1]}" if out_of_order else "",
        out_of_order is None,
    )

    params = {**window, "urgency": "EMERGENCY", "limit": 100}
    body = await ctx.client.expect_json("GET", "/api/duties", token=token, params=params)
    urgent = page_items(body, "GET /api/duties?urgency=EMERGENCY")
    wrong = {str(item.get("urgency")) for item in urgent} - {"EMERGENCY"}
    ours = {str(ctx.duties[i]["id"]) for i in ctx.duties if DUTIES[i].urgency == "EMERGENCY"}
    listed = {str(item.get("id")) for item in urgent}
    section.verify(
        "filter urgency=EMERGENCY",
        "only EMERGENCY, ours included",
        f"other urgencies {sorted(wrong)}, ours missing {sorted(ours - listed)}",
        not wrong and ours <= listed,
    )
    for limit in (0, 101):
        reply = await ctx.client.send("GET", "/api/duties", token=token, params={"limit": limit})
        section.verify(f"limit={limit} is refused (1-100)", "HTTP 400", f"HTTP {reply.status}")


async def walk_duty_pages(
    ctx: DemoContext, token: str, window: Mapping[str, str]
) -> tuple[list[dict[str, Any]], int]:
    """All duties in the window: a small first page proves the cursor, then full pages."""
    items: list[dict[str, Any]] = []
    params: dict[str, str | int] = {**window, "limit": 4}
    for page in range(1, 60):
        body = await ctx.client.expect_json("GET", "/api/duties", token=token, params=params)
        items += page_items(body, "GET /api/duties")
        cursor = body["next_cursor"]
        if not cursor:
            return items, page
        params = {**window, "limit": 100, "cursor": str(cursor)}
    raise DivergenceError("GET /api/duties", "the last page within 60 pages", "more pages")


def schedule_key(duty: Mapping[str, Any]) -> tuple[str, str]:
    return str(duty.get("date", ""))[:10], str(duty.get("start_time", ""))[:5]


async def apply_for_duties(ctx: DemoContext, section: Section) -> None:
    """Clinicians apply with a cover letter; duplicates and admins are refused."""
    require(bool(ctx.duties), "no duty was posted")

    async def apply(first: str, index: int) -> None:
        ctx.applications[(first, index)] = await submit_application(ctx, section, first, index)

    await settle(section, [apply(first, index) for first, index in APPLICATIONS])
    section.verify(
        f"{len(ctx.applications)} applications submitted (status PENDING)",
        len(APPLICATIONS),
        len(ctx.applications),
    )
    amara = ctx.member("Amara")
    path = f"/api/duties/{ctx.duty_id(OVERNIGHT)}/applications"
    reply = await ctx.client.send(
        "POST", path, token=amara.access_token, json_body={"cover_letter": "Applying twice."}
    )
    section.verify("a duplicate application is refused", "HTTP 409", f"HTTP {reply.status}")
    rahul = ctx.member("Rahul")
    reply = await ctx.client.send(
        "POST",
        f"/api/duties/{ctx.duty_id(1)}/applications",
        token=rahul.access_token,
        json_body={"cover_letter": "Me?"},
    )
    section.verify("a hospital admin cannot apply", "HTTP 403", f"HTTP {reply.status}")


async def submit_application(ctx: DemoContext, section: Section, first: str, index: int) -> str:
    member, plan, duty_id = ctx.member(first), DUTIES[index], ctx.duty_id(index)
    persona = member.persona
    letter = (
        f"Dear {plan.hospital_name} team, I am a {persona.role} in {persona.specialty} with "
        f"{persona.years_experience} years' experience and would like to cover {plan.title}."
    )
    body = await ctx.client.expect_json(
        "POST",
        f"/api/duties/{duty_id}/applications",
        201,
        token=member.access_token,
        json_body={"cover_letter": letter},
    )
    where = f"application of {persona.name} to {plan.title!r}"
    for key, expected in (
        ("duty_id", duty_id),
        ("applicant_id", member.user_id),
        ("status", "PENDING"),
    ):
        section.ensure(f"{where}: {key}", expected, body.get(key))
    return str(need(body, "id", where))


async def accept_to_capacity(ctx: DemoContext, section: Section) -> None:
    """Accepts stop at positions_needed, one at a time and under a concurrent race."""
    helen, rahul = ctx.member("Helen"), ctx.member("Rahul")
    overnight = ctx.duty_id(OVERNIGHT)
    amara_app = ctx.application_id("Amara", OVERNIGHT)
    reply = await ctx.client.send(
        "POST", f"/api/applications/{amara_app}/accept", token=rahul.access_token
    )
    section.verify(
        "another admin cannot accept on Helen's duty",
        "HTTP 403 or 404",
        f"HTTP {reply.status}",
        reply.status in (403, 404),
    )

    for first in ("Amara", "Tomás"):
        app_id = ctx.application_id(first, OVERNIGHT)
        body = await ctx.client.expect_json(
            "POST", f"/api/applications/{app_id}/accept", token=helen.access_token
        )
        section.verify(f"Helen accepts {first}", "ACCEPTED", body.get("status"))
    daniel_app = ctx.application_id("Daniel", OVERNIGHT)
    reply = await ctx.client.send(
        "POST", f"/api/applications/{daniel_app}/accept", token=helen.access_token
    )
    section.verify(
        "a third accept on a 2-position duty is refused (full)", "HTTP 409", f"HTTP {reply.status}"
    )
    await verify_filled(ctx, section, overnight, helen.access_token)
    reply = await ctx.client.send(
        "POST",
        f"/api/duties/{overnight}/applications",
        token=ctx.member("Grace").access_token,
        json_body={"cover_letter": "Still free?"},
    )
    section.verify("applying to a FILLED duty is refused", "HTTP 409", f"HTTP {reply.status}")

    await race_accepts(ctx, section)
    await check_applicant_views(ctx, section)


async def verify_filled(ctx: DemoContext, section: Section, duty_id: str, token: str) -> None:
    duty = await ctx.client.expect_json("GET", f"/api/duties/{duty_id}", token=token)
    got = f"status {duty.get('status')}, positions_filled {duty.get('positions_filled')}"
    section.verify(
        f"duty {duty.get('title')!r} shows FILLED 2/2", "status FILLED, positions_filled 2", got
    )


async def race_accepts(ctx: DemoContext, section: Section) -> None:
    rahul = ctx.member("Rahul")
    applicants = [first for first, index in APPLICATIONS if index == RACED]
    paths = [f"/api/applications/{ctx.application_id(f, RACED)}/accept" for f in applicants]
    replies = await asyncio.gather(
        *(ctx.client.send("POST", path, token=rahul.access_token) for path in paths)
    )
    statuses = Counter(reply.status for reply in replies)
    section.verify(
        f"{len(paths)} concurrent accepts on a 2-position duty",
        "2 x HTTP 200, the rest HTTP 409",
        ", ".join(f"{n} x HTTP {code}" for code, n in sorted(statuses.items())),
        statuses[200] == 2 and statuses[409] == len(paths) - 2,
    )
    await verify_filled(ctx, section, ctx.duty_id(RACED), rahul.access_token)
    body = await ctx.client.expect_json(
        "GET", f"/api/duties/{ctx.duty_id(RACED)}/applications", token=rahul.access_token
    )
    accepted = [
        a for a in page_items(body, "admin's applications") if a.get("status") == "ACCEPTED"
    ]
    section.verify("the admin's view shows exactly 2 ACCEPTED", 2, len(accepted))


async def check_applicant_views(ctx: DemoContext, section: Section) -> None:
    amara = ctx.member("Amara")
    body = await ctx.client.expect_json("GET", "/api/applications/me", token=amara.access_token)
    mine = {str(a.get("id")): a.get("status") for a in page_items(body, "my applications")}
    section.verify(
        "Amara sees her applications (ACCEPTED, PENDING)",
        {
            ctx.application_id("Amara", OVERNIGHT): "ACCEPTED",
            ctx.application_id("Amara", 1): "PENDING",
        },
        mine,
    )
    overnight = f"/api/duties/{ctx.duty_id(OVERNIGHT)}/applications"
    reply = await ctx.client.send("GET", overnight, token=amara.access_token)
    section.verify(
        "an applicant cannot read the admin's view",
        "HTTP 403 or 404",
        f"HTTP {reply.status}",
        reply.status in (403, 404),
    )

    async def probe() -> list[dict[str, Any]] | None:
        body = await ctx.client.expect_json("GET", "/api/notifications", token=amara.access_token)
        items = page_items(body, "GET /api/notifications")
        return items or None

    notes, waited = await poll(probe, EVENT_WAIT_S)
    section.verify(
        f"Amara is notified of the acceptance ({waited:.2f} s)",
        "a notification",
        f"none after {waited:.1f} s",
        bool(notes),
    )


async def verify_profile_photos(ctx: DemoContext, section: Section) -> None:
    """file.uploaded sets photo_url; it and the signed URL serve exactly the bytes sent."""
    members = [m for m in ctx.members.values() if m.photo and m.upload_id]
    require(bool(members), "no photo was uploaded")
    require(ctx.profiles_ready, "the profiles were never created")
    started = time.perf_counter()
    checks = [check_photo(ctx, section, m, m.photo) for m in members if m.photo]
    served_from = await settle(section, checks)
    section.verify(
        f"{len(served_from)} profiles show photo_url via file.uploaded, bytes identical "
        f"(in {time.perf_counter() - started:.2f} s)",
        len(members),
        len(served_from),
    )
    origins = sorted({o if o != ctx.client.base_url else "the gateway" for o in served_from})
    section.note(f"photos served by: {', '.join(origins)}")
    await check_signed_url_expiry(ctx, section, members[0])


async def check_photo(ctx: DemoContext, section: Section, member: Member, photo: Photo) -> str:
    """Wait for photo_url, fetch it and the signed URL; returns the origin that served it."""
    name = member.persona.name

    async def probe() -> str | None:
        profile = await ctx.client.expect_json("GET", "/api/profiles/me", token=member.access_token)
        return str(profile["photo_url"]) if profile.get("photo_url") else None

    photo_url, waited = await poll(probe, EVENT_WAIT_S)
    if photo_url is None:
        raise DivergenceError(
            f"photo_url of {name}", "set by file.uploaded", f"still empty after {waited:.1f} s"
        )
    served = await ctx.client.download(photo_url)
    section.ensure(
        f"photo_url of {name} serves the uploaded bytes",
        photo.sha256,
        hashlib.sha256(served.body).hexdigest(),
    )
    check_download_headers(ctx, section, served, photo)

    signed = await ctx.client.expect_json(
        "GET", f"/api/uploads/{member.upload_id}/url", token=member.access_token
    )
    url = need(signed, "url", "signed URL")
    expires_at = parse_time(signed.get("expires_at"))
    delta = (expires_at - datetime.now(UTC)).total_seconds() if expires_at else None
    section.ensure(
        f"signed URL of {name}: default expiry",
        "about 3600 s from now",
        signed.get("expires_at"),
        delta is not None and 3500 <= delta <= 3700,
    )
    served = await ctx.client.download(str(url))
    section.ensure(
        f"signed URL of {name} serves the uploaded bytes",
        photo.sha256,
        hashlib.sha256(served.body).hexdigest(),
    )
    parts = urlsplit(served.url)
    return f"{parts.scheme}://{parts.netloc}"


def check_download_headers(ctx: DemoContext, section: Section, served: Reply, photo: Photo) -> None:
    """Downloads the gateway serves carry the type, nosniff and an RFC 5987 disposition."""
    if not ctx.client.is_gateway(served.url):
        return  # served by the object store directly; its headers are the store's
    disposition = served.headers.get("Content-Disposition", "")
    section.ensure(f"download {served.label}: Content-Type", photo.content_type, served.media_type)
    section.ensure(
        f"download {served.label}: X-Content-Type-Options",
        "nosniff",
        served.headers.get("X-Content-Type-Options"),
    )
    section.ensure(
        f"download {served.label}: Content-Disposition",
        "filename= and filename*=",
        disposition or "(none)",
        "filename=" in disposition and "filename*=" in disposition,
    )


async def check_signed_url_expiry(ctx: DemoContext, section: Section, member: Member) -> None:
    path = f"/api/uploads/{member.upload_id}/url"
    body = await ctx.client.expect_json(
        "GET", path, token=member.access_token, params={"expires_in": 60}
    )
    expires_at = parse_time(body.get("expires_at"))
    delta = (expires_at - datetime.now(UTC)).total_seconds() if expires_at else None
    section.verify(
        "expires_in=60 gives a URL expiring in about a minute",
        "about 60 s",
        body.get("expires_at"),
        delta is not None and 0 < delta <= 90,
    )
    reply = await ctx.client.send(
        "GET", path, token=member.access_token, params={"expires_in": 8 * 24 * 3600}
    )
    section.verify("expires_in beyond 7 days is refused", "HTTP 400", f"HTTP {reply.status}")


async def burst_bad_logins(ctx: DemoContext, section: Section) -> None:
    """Wrong passwords for one account: 401s, then 429 with Retry-After; then even the right one."""
    jonas = ctx.member("Jonas")
    # His registration is the oldest hit in the window; let it age so that "when the quota frees"
    # (Retry-After) and "when the window is empty" differ, and the RateLimit t= check means something.
    await asyncio.sleep(
        max(0.0, BURST_AFTER_REGISTRATION_S - (time.monotonic() - jonas.registered_at))
    )
    unknown = await ctx.client.send(
        "POST",
        "/api/auth/login",
        json_body={
            "email": f"nobody.{ctx.run_id}@example.com",
            "password": secrets.token_urlsafe(18),
        },
    )
    wrong = {"email": jonas.email, "password": secrets.token_urlsafe(18)}
    replies: list[Reply] = []
    for _ in range(BAD_LOGIN_ATTEMPTS):
        replies.append(await ctx.client.send("POST", "/api/auth/login", json_body=wrong))
        if replies[-1].status != 401:
            break
    statuses = [reply.status for reply in replies]
    section.note(f"statuses of {len(statuses)} wrong-password logins: {statuses}")
    section.verify(
        "bad logins are 401 until the limit, then 429",
        "401, ..., 401, 429",
        statuses,
        statuses[0] == 401 and statuses[-1] == 429,
    )
    section.verify(
        "unknown e-mail and wrong password get one generic 401",
        problem_text(replies[0]),
        problem_text(unknown),
        unknown.status == 401 and problem_text(replies[0]) == problem_text(unknown),
    )
    denial = replies[-1]
    if denial.status != 429:
        return
    retry_after = retry_after_seconds(denial)
    section.verify(
        "429 carries Retry-After (seconds, within the 15 min window)",
        f"1..{AUTH_WINDOW_S}",
        denial.headers.get("Retry-After"),
        retry_after is not None and 1 <= retry_after <= AUTH_WINDOW_S,
    )
    section.verify("429 is problem+json", [], problem_issues(denial))
    present = [h for h in ("RateLimit-Policy", "RateLimit") if h in denial.headers]
    section.verify("429 carries RateLimit-Policy and RateLimit", 2, len(present))
    reset = ratelimit_reset_seconds(denial)
    section.verify(
        "Retry-After equals the reset announced in RateLimit (t=)",
        f"t={retry_after}",
        denial.headers.get("RateLimit"),
        reset is not None and retry_after is not None and abs(reset - retry_after) <= 1,
    )
    right = {"email": jonas.email, "password": jonas.password}
    reply = await ctx.client.send("POST", "/api/auth/login", json_body=right)
    section.verify(
        "the right password is throttled too while limited", "HTTP 429", f"HTTP {reply.status}"
    )


def ratelimit_reset_seconds(reply: Reply) -> int | None:
    """The `t` (seconds until the quota resets) of an IETF RateLimit header field."""
    found = re.search(r"(?:^|;)\s*t=(\d+)", reply.headers.get("RateLimit", ""))
    return int(found.group(1)) if found else None


def problem_text(reply: Reply) -> str:
    try:
        body = json.loads(reply.body)
    except ValueError:
        return reply.describe()
    if not isinstance(body, dict):
        return reply.describe()
    return f"{body.get('title')}: {body.get('detail')}"


def summarise_envelopes(client: GatewayClient) -> Section:
    """The cross-cutting checks the client made on every gateway response."""
    audit = client.audit
    section = Section("Every response")
    section.note(f"{audit.responses} gateway responses, {audit.errors} of them errors")
    for issue, (count, example) in audit.issues.items():
        section.failed(issue, "none", f"{count} (e.g. {example})")
    if not audit.issues:
        section.passed(
            f"all {audit.responses} carried X-Request-ID; "
            f"all {audit.errors} errors were complete problem+json"
        )
    repeated = [rid for rid, n in audit.request_ids.items() if n > 1]
    section.verify("request ids are unique per response", [], repeated)
    return section


Phase = Callable[[DemoContext, Section], Awaitable[None]]

PHASES: tuple[tuple[str, Phase], ...] = (
    ("Gateway and health", check_gateway),
    ("Registration", register_users),
    ("Profiles", complete_profiles),
    ("Profile photos", upload_photos),
    ("Duties", post_duties),
    ("Duty listing", list_duties),
    ("Applications", apply_for_duties),
    ("Acceptance up to capacity", accept_to_capacity),
    ("Profile photo via file.uploaded", verify_profile_photos),
    ("Login throttling", burst_bad_logins),
)


async def run_phase(title: str, phase: Phase, ctx: DemoContext) -> Section:
    section = Section(title)
    started = time.perf_counter()
    try:
        await phase(ctx, section)
    except PhaseSkipped as skipped:
        section.skipped = str(skipped)
    except DivergenceError as divergence:
        section.failed(divergence.what, divergence.expected, divergence.got)
    section.seconds = time.perf_counter() - started
    return section


async def run_demo(
    base_url: str,
    *,
    run_id: str | None = None,
    on_section: Callable[[Section], None] | None = None,
) -> DemoReport:
    """Run the whole scenario against the gateway at `base_url` and report what diverged.

    `run_id` makes this run's e-mails unique (random by default), so the scenario can run again
    and again against the same databases; `on_section` sees each section as it completes.
    """
    run_id = run_id or new_run_id()
    report = DemoReport(base_url.rstrip("/"), run_id)
    started = time.perf_counter()
    async with GatewayClient.connect(base_url) as client:
        ctx = DemoContext(client, run_id, datetime.now(UTC).date())

        def emit(section: Section) -> None:
            report.sections.append(section)
            if on_section:
                on_section(section)

        for title, phase in PHASES:
            section = await run_phase(title, phase, ctx)
            if client.unreachable:
                section.note(f"gateway unreachable at {base_url}: the run stops here")
            emit(section)
            if client.unreachable:
                break
        emit(summarise_envelopes(client))
        report.latencies_ms = client.latencies_ms
    report.seconds = time.perf_counter() - started
    return report


def new_run_id() -> str:
    return secrets.token_hex(4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get("GATEWAY_URL", DEFAULT_BASE_URL),
        help="gateway URL (default: $GATEWAY_URL or %(default)s)",
    )
    args = parser.parse_args(argv)
    run_id = new_run_id()
    print(render_header(args.base_url, run_id))

    def show(section: Section) -> None:
        print(render_section(section), flush=True)

    report = asyncio.run(run_demo(args.base_url, run_id=run_id, on_section=show))
    print(report.render_summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
