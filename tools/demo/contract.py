"""Readings of response bodies against DESIGN §1: promised fields, pages, times, money, digests."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tools.demo.report import DivergenceError

CENT = Decimal("0.01")
MONEY_TOLERANCE = CENT


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
