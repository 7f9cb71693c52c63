"""One log line per change of the broker connection's state, instead of the client library's.

aio-pika and aiormq log every failed reconnect attempt, and each closed channel, some with
multi-line tracebacks at error level: a broker restart filled every service's log with them.
`quiet_broker_client_logs()` keeps those loggers to CRITICAL; `BrokerConnectionLog` follows a
robust connection and writes `broker connection lost` (warning, with the reason) when it drops
and `broker connection restored` (info, with the time it was down) when it is back — once each
per outage, however many attempts it took.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import structlog
from aio_pika.abc import AbstractRobustConnection

_log = structlog.get_logger(__name__)
BROKER_CLIENT_LOGGERS = ("aiormq", "aio_pika")


def quiet_broker_client_logs() -> None:
    """Keep the broker client libraries' own loggers to CRITICAL (idempotent)."""
    for name in BROKER_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


class BrokerConnectionLog:
    """Follows one robust connection: logs its loss and its return, once per outage.

    Args:
        connection: the robust connection to follow (its close and reconnect callbacks).
        name: what the lines call it (e.g. `api/api-1`).
    """

    def __init__(self, connection: AbstractRobustConnection, name: str) -> None:
        self._name = name
        self._lost_at: float | None = None
        self._closing = False
        connection.close_callbacks.add(self._on_close)
        connection.reconnect_callbacks.add(self._on_reconnect)

    @property
    def connected(self) -> bool:
        """False from a loss until the connection is restored."""
        return self._lost_at is None

    def closing(self) -> None:
        """The owner closes the connection on purpose: that is no loss."""
        self._closing = True

    def _on_close(self, _: Any, exc: BaseException | None = None) -> None:
        if self._closing or self._lost_at is not None:
            return
        self._lost_at = time.monotonic()
        _log.warning("broker connection lost", connection=self._name, reason=repr(exc))

    def _on_reconnect(self, *_: Any) -> None:
        if self._lost_at is None:
            return
        down_s = round(time.monotonic() - self._lost_at, 1)
        self._lost_at = None
        _log.info("broker connection restored", connection=self._name, down_s=down_s)
