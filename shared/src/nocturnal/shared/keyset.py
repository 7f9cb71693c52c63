"""Keyset (cursor) pagination on MongoDB: the filter that continues after a sort key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from nocturnal.shared.mongo import Document


class InvalidCursor(ValueError):
    """The cursor does not hold the sort key this listing uses."""


def after_key(fields: Sequence[str], values: Sequence[Any], *, descending: bool) -> Document:
    """Documents strictly after `values` in the order of `fields` (all ascending or descending).

    For fields (a, b) ascending: `a > va or (a == va and b > vb)`.
    """
    op = "$lt" if descending else "$gt"
    clauses = []
    for index, field in enumerate(fields):
        clause: Document = dict(zip(fields[:index], values[:index], strict=True))
        clause[field] = {op: values[index]}
        clauses.append(clause)
    return {"$or": clauses}


def string_key(after: list[Any], size: int) -> list[str]:
    """A cursor of `size` strings.

    Raises:
        InvalidCursor: it is not.
    """
    if len(after) != size or not all(isinstance(value, str) for value in after):
        raise InvalidCursor("invalid cursor")
    return [str(value) for value in after]


def time_id_key(after: list[Any]) -> tuple[datetime, str]:
    """A cursor of [RFC 3339 time, id].

    Raises:
        InvalidCursor: it is not.
    """
    moment, item_id = string_key(after, 2)
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        raise InvalidCursor("invalid cursor") from None
    if parsed.tzinfo is None:
        raise InvalidCursor("invalid cursor")
    return parsed, item_id
