"""structlog configuration: JSON lines in production, console in development, request context."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from nocturnal.shared.json_text import encode
from nocturnal.shared.tracing import log_trace_ids


def _json_line(event: MutableMapping[str, Any], **options: Any) -> str:
    # structlog's JSONRenderer passes `default` (repr() of what JSON has no type for).
    return encode(event, options["default"]).decode()


def configure_logging(
    *,
    service: str,
    instance: str,
    level: str = "INFO",
    fmt: Literal["json", "console"] = "json",
) -> None:
    """Configure structlog and the standard library root logger for one service process.

    Every line carries `service`, `instance`, a UTC ISO-8601 `timestamp`, `level`, and whatever
    is bound in the request/message context (`request_id`, `traceparent`, `user_id`, ...).
    """
    static = {"service": service, "instance": instance}

    def add_static(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in static.items():
            event.setdefault(key, value)
        return event

    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared_processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_static,
        log_trace_ids,
    ]
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            # Tracebacks of standard-library records (aiohttp's) as of structlog's own: plain
            # text under `exception`; JSON alone would print "<traceback object>".
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    """A lazy structlog logger (optionally tagged `component=name`).

    Lazy: safe to create at import time, before `configure_logging` runs; the configuration
    in force at the first log call applies.
    """
    return structlog.get_logger(component=name) if name else structlog.get_logger()


def bind_context(**values: Any) -> None:
    """Bind values (request_id, traceparent, user_id, ...) to the current task's log context."""
    structlog.contextvars.bind_contextvars(**values)
