"""Identifiers of stored things: random, opaque, URL-safe."""

from __future__ import annotations

import uuid
from collections.abc import Callable

IdFactory = Callable[[], str]
"""Makes a new identifier. Use cases take one, so tests can predict the ids."""


def new_id() -> str:
    """A new identifier: 32 lower-case hex digits of a random UUID (RFC 9562 version 4)."""
    return uuid.uuid4().hex
