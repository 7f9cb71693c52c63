"""tools.demo.client, contract and cast: what the demo holds the platform's answers against."""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from tools.demo.cast import APPLICATIONS, DUTIES, OVERNIGHT, PERSONAS
from tools.demo.client import EnvelopeAudit, Reply, problem_issues
from tools.demo.contract import amount_is, as_decimal, digest_matches, is_rfc3339


def reply(status: int, body: Any, content_type: str, request_id: str | None = "rid-1") -> Reply:
    headers = CIMultiDict({"Content-Type": content_type})
    if request_id:
        headers["X-Request-ID"] = request_id
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply("GET", "http://gateway/api/x?y=1", status, CIMultiDictProxy(headers), data, 1.0)


def problem(status: int, **changes: Any) -> dict[str, Any]:
    body = {
        "type": "about:blank",
        "title": "Not Found",
        "status": status,
        "detail": "no such duty",
        "instance": "/api/x",
        "request_id": "rid-1",
    }
    return {**body, **changes}


def test_a_complete_problem_has_no_issues() -> None:
    assert problem_issues(reply(404, problem(404), "application/problem+json")) == []


def test_problem_issues_name_what_is_missing_or_inconsistent() -> None:
    incomplete = {k: v for k, v in problem(400).items() if k != "detail"}

    issues = problem_issues(reply(404, incomplete, "application/problem+json", request_id=None))

    assert issues == [
        "no X-Request-ID header",
        "problem+json lacks detail",
        "problem status 400 differs from HTTP 404",
        "problem request_id differs from the X-Request-ID header",
    ]


def test_an_error_that_is_not_problem_json_is_named() -> None:
    assert problem_issues(reply(500, b"<html>", "text/html")) == [
        "Content-Type text/html, not application/problem+json"
    ]


def test_the_audit_flags_untyped_success_bodies_and_repeated_request_ids() -> None:
    audit = EnvelopeAudit()

    audit.inspect(reply(200, {"ok": True}, "application/json"))
    audit.inspect(reply(200, b"hello", "text/plain"))
    audit.inspect(reply(200, b"\x89PNG", "image/png"), download=True)

    assert audit.responses == 3
    assert audit.request_ids["rid-1"] == 3
    assert audit.issues == {
        "success body is text/plain, not JSON": (1, "GET /api/x?y=1 -> HTTP 200")
    }


def test_money_may_travel_as_a_number_or_a_string_within_a_cent() -> None:
    assert as_decimal("722.00") == Decimal("722.00")
    assert as_decimal(True) is None
    assert as_decimal("lots") is None
    assert amount_is(722.004, Decimal("722.00"))
    assert not amount_is("722.02", Decimal("722.00"))


def test_a_digest_may_be_hex_or_base64() -> None:
    data = b"portrait"
    digest = hashlib.sha256(data).digest()

    for form in (digest.hex(), digest.hex().upper(), base64.b64encode(digest).decode()):
        assert digest_matches(form, data)
    assert digest_matches(base64.urlsafe_b64encode(digest).decode().rstrip("="), data)
    assert not digest_matches(hashlib.sha256(b"other").hexdigest(), data)


def test_timestamps_must_be_rfc3339_with_an_offset() -> None:
    assert is_rfc3339("2030-01-02T03:04:05.123Z")
    assert is_rfc3339("2030-01-02T03:04:05+01:00")
    assert not is_rfc3339("2030-01-02T03:04:05")
    assert not is_rfc3339("2030-01-02")


def test_the_overnight_duty_pays_8_hours_less_the_5_percent_fee() -> None:
    overnight = DUTIES[OVERNIGHT]

    assert (overnight.start_time, overnight.end_time) == ("22:00", "06:00")
    assert overnight.expected_total == Decimal("760.00")
    assert overnight.expected_net == Decimal("722.00")


def test_the_script_names_only_cast_members_and_posted_duties() -> None:
    firsts = {persona.first for persona in PERSONAS}

    assert {duty.poster for duty in DUTIES} <= firsts
    assert all(first in firsts and 0 <= index < len(DUTIES) for first, index in APPLICATIONS)
    assert len({persona.email("run1") for persona in PERSONAS}) == len(PERSONAS)
