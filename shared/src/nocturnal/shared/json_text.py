"""JSON text (RFC 8259) for responses and log lines: orjson, with the standard library's
encoder for the few values orjson refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def encode(value: Any, default: Callable[[Any], Any]) -> bytes:
    """`value` as compact UTF-8 JSON text (no spaces; non-ASCII characters as themselves).

    `default(obj)` turns what JSON has no type for into something it has (raises `TypeError`
    when it cannot); it also receives every `datetime`, `date` and `time`, so their text is
    the caller's choice, not orjson's. Integers beyond 64 bits and strings with lone surrogates,
    which orjson refuses, go through `json.dumps` (surrogates escaped as `\\udxxx`). NaN and
    infinities, which JSON has no text for, become `null`.

    Raises:
        TypeError: `default` could not convert a value (or raised it).
    """
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=default, separators=(",", ":")).encode()
