"""End to end through the gateway: the demo, phase by phase, and bad input that changes nothing."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from e2e.support import duty_body

from tools.demo import (
    ENVELOPES,
    PHASES,
    DemoReport,
    GatewayClient,
    Reply,
    Section,
    problem_issues,
    run_demo,
)
from tools.demo.report import render_section
from tools.devstack import Stack

pytestmark = pytest.mark.e2e

JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
async def gateway(gateway_stack: Stack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient.connect(gateway_stack.base_url) as client:
        yield client


def assert_problem(reply: Reply, status: int) -> None:
    """The reply is an RFC 9457 problem+json with `status`, carrying X-Request-ID."""
    assert reply.status == status, f"{reply.label}: expected HTTP {status}, got {reply.describe()}"
    assert problem_issues(reply) == [], f"{reply.label}: {reply.describe()}"


def new_email(label: str) -> str:
    return f"e2e.{label}.{secrets.token_hex(4)}@example.com"


def new_password() -> str:
    return secrets.token_urlsafe(18)


async def register(
    gateway: GatewayClient, email: str, password: str, role: str = "nurse"
) -> dict[str, Any]:
    payload = {"email": email, "password": password, "name": "Sam Taylor", "role": role}
    return await gateway.expect_json(
        "POST", "/api/auth/register", 201, json_body=payload, retry_busy=True
    )


@pytest.fixture(scope="module")
async def demo_report(gateway_stack: Stack) -> DemoReport:
    """The demo scenario, run once through the gateway; each phase's test reads its section."""
    return await run_demo(gateway_stack.base_url)


SECTIONS = [title for title, _ in PHASES] + [ENVELOPES]


def section_of(report: DemoReport, title: str) -> Section:
    found = [section for section in report.sections if section.title == title]
    if not found:
        pytest.fail(f"phase {title!r} did not run:\n{report.render_summary()}", pytrace=False)
    return found[0]


@pytest.mark.timeout(300)  # the first test runs the whole scenario
def test_demo_runs_every_phase_once_in_order(demo_report: DemoReport) -> None:
    assert [section.title for section in demo_report.sections] == SECTIONS


@pytest.mark.timeout(300)
@pytest.mark.parametrize("title", SECTIONS, ids=lambda title: title.lower().replace(" ", "-"))
def test_demo_phase_matches_the_contract(demo_report: DemoReport, title: str) -> None:
    section = section_of(demo_report, title)

    if section.skipped or section.divergences:
        pytest.fail(render_section(section), pytrace=False)
    assert any(line.ok for line in section.lines), f"{title} checked nothing"


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_unknown_route_is_a_404_problem(gateway: GatewayClient, method: str) -> None:
    reply = await gateway.send(method, "/api/no-such-route", data=b"{}", headers=JSON_HEADERS)

    assert_problem(reply, 404)


def _cut_in_half(body: bytes) -> bytes:
    return body[: len(body) // 2]


def _registration(email: str, **changes: Any) -> bytes:
    body = {"email": email, "password": new_password(), "name": "Sam Taylor", "role": "nurse"}
    return json.dumps({**body, **changes}).encode()


BAD_REGISTRATIONS: dict[str, Callable[[str], bytes]] = {
    "malformed JSON": lambda email: _cut_in_half(_registration(email)),
    "unknown field": lambda email: _registration(email, is_admin=True),
    "password is a number": lambda email: _registration(email, password=1234567890123456789),
    "name is a list": lambda email: _registration(email, name=["Sam", "Taylor"]),
    "role is null": lambda email: _registration(email, role=None),
    "body is an array": lambda email: json.dumps([json.loads(_registration(email))]).encode(),
    "body is a string": lambda email: json.dumps(email).encode(),
    "empty body": lambda email: b"",
}


@pytest.mark.parametrize("case", list(BAD_REGISTRATIONS))
async def test_bad_registration_is_a_400_problem_and_creates_no_user(
    gateway: GatewayClient, case: str
) -> None:
    email = new_email("bad-register")

    reply = await gateway.send(
        "POST", "/api/auth/register", data=BAD_REGISTRATIONS[case](email), headers=JSON_HEADERS
    )

    assert_problem(reply, 400)
    # Nothing was created: the e-mail is still free, and the role is the one asked for now.
    created = await register(gateway, email, new_password(), role="nurse")
    assert created["user"]["role"] == "nurse"


BAD_DUTIES: dict[str, Callable[[str, date], bytes]] = {
    "malformed JSON": lambda t, d: _cut_in_half(json.dumps(duty_body(t, d)).encode()),
    "unknown field": lambda t, d: json.dumps(duty_body(t, d, bonus=100)).encode(),
    "unknown nested field": lambda t, d: json.dumps(
        duty_body(t, d, requirements={"minimum_experience": 2, "required_skills": [], "x": 1})
    ).encode(),
    "hourly_rate is text": lambda t, d: json.dumps(duty_body(t, d, hourly_rate="lots")).encode(),
    "hourly_rate is a boolean": lambda t, d: json.dumps(duty_body(t, d, hourly_rate=True)).encode(),
    "positions_needed is text": lambda t, d: json.dumps(
        duty_body(t, d, positions_needed="two")
    ).encode(),
    "requirements is a list": lambda t, d: json.dumps(duty_body(t, d, requirements=[])).encode(),
    "empty body": lambda t, d: b"",
}


@pytest.mark.parametrize("case", list(BAD_DUTIES))
async def test_bad_duty_is_a_400_problem_and_posts_nothing(
    gateway: GatewayClient, case: str
) -> None:
    admin = await register(gateway, new_email("admin"), new_password(), role="hospital_admin")
    token = admin["access_token"]
    title = f"E2E bad duty {secrets.token_hex(4)}"
    day = date(2090, 1, 1) + timedelta(days=secrets.randbelow(3000))

    reply = await gateway.send(
        "POST", "/api/duties", token=token, data=BAD_DUTIES[case](title, day), headers=JSON_HEADERS
    )

    assert_problem(reply, 400)
    assert await _count_titled(gateway, token, title, day) == 0
    # The control: the same query does see the duty once it is validly posted.
    await gateway.expect("POST", "/api/duties", 201, token=token, json_body=duty_body(title, day))
    assert await _count_titled(gateway, token, title, day) == 1


async def _count_titled(gateway: GatewayClient, token: str, title: str, day: date) -> int:
    window = {"date_from": day.isoformat(), "date_to": day.isoformat(), "limit": 100}
    body = await gateway.expect_json("GET", "/api/duties", token=token, params=window)
    return sum(1 for item in body["items"] if item.get("title") == title)


async def test_forwarded_for_headers_do_not_change_the_rate_limited_address(
    gateway: GatewayClient,
) -> None:
    email = new_email("xff")
    await register(gateway, email, new_password())
    wrong = {"email": email, "password": new_password()}

    statuses = []
    for attempt in range(1, 7):
        spoofed = {"X-Forwarded-For": f"203.0.113.{attempt}", "X-Real-IP": f"198.51.100.{attempt}"}
        reply = await gateway.send("POST", "/api/auth/login", json_body=wrong, headers=spoofed)
        statuses.append(reply.status)
        assert reply.status in (401, 429), reply.describe()
        assert_problem(reply, reply.status)
        if reply.status == 429:
            break

    assert statuses[-1] == 429, f"6 failed logins from 'different' addresses: {statuses}"
    assert reply.headers.get("Retry-After", "").isdigit()
