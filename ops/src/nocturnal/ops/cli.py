"""The operator CLI's root: common options, one sub-command group per concern, exit codes.

Groups register themselves with :func:`build_parser` (``dlq``, ``uploads``; each a module with
a ``register(groups)`` function). A broker command sets ``command`` (run with a `Context`); one
that needs no broker sets ``standalone`` (run with the output and the confirmation question). Exit codes: 0 done, 1 refused or incomplete (the
output says what), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import aio_pika
from aio_pika.abc import AbstractConnection

from nocturnal.ops import dlq, uploads
from nocturnal.ops.settings import OpsSettings
from nocturnal.shared.config import load_settings
from nocturnal.shared.events import ExchangeSpec

CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Context:
    """What a command runs with: the broker connection, the event exchange, the output, and
    how to ask the operator a yes/no question."""

    connection: AbstractConnection
    exchange: ExchangeSpec
    out: TextIO
    confirm: Callable[[str], bool]


Command = Callable[[argparse.Namespace, Context], Awaitable[int]]
StandaloneCommand = Callable[
    [argparse.Namespace, TextIO, Callable[[str], bool]], Coroutine[Any, Any, int]
]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: common options and every command group."""
    parser = argparse.ArgumentParser(
        prog="python -m nocturnal.ops",
        description="Nocturnal operator tools. The broker and exchange come from AMQP_URL and"
        " EVENTS_EXCHANGE (as the services read them) unless given here.",
    )
    parser.add_argument("--amqp-url", help="the broker (default: $AMQP_URL)")
    parser.add_argument("--exchange", help="the event exchange (default: $EVENTS_EXCHANGE)")
    parser.set_defaults(standalone=None)
    groups = parser.add_subparsers(title="command groups", required=True, metavar="GROUP")
    dlq.register(groups)
    uploads.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``nocturnal-ops``: parse, read settings, run the command; its exit code."""
    args = build_parser().parse_args(argv)
    standalone: StandaloneCommand | None = args.standalone
    if standalone is not None:
        return _interruptible(standalone(args, sys.stdout, _ask))
    # The command reports what went wrong itself, in one line; the AMQP libraries would add
    # their own log lines (a transport error, a traceback) to it.
    for library in ("aiormq", "aio_pika"):
        logging.getLogger(library).setLevel(logging.CRITICAL)
    settings = load_settings(OpsSettings)
    amqp_url = args.amqp_url or settings.amqp_url
    exchange = ExchangeSpec(args.exchange or settings.events_exchange)
    return _interruptible(_run(args, amqp_url, exchange))


def _interruptible(command: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(command)
    except KeyboardInterrupt:
        print("interrupted: what was not finished stays where it was", file=sys.stderr)
        return 1


async def run(args: argparse.Namespace, context: Context) -> int:
    """Run the command ``args`` names (set by its group's parser) in ``context``."""
    command: Command = args.command
    return await command(args, context)


async def _run(args: argparse.Namespace, amqp_url: str, exchange: ExchangeSpec) -> int:
    try:
        connection = await aio_pika.connect(amqp_url, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
        print(f"cannot reach the broker at {_without_password(amqp_url)}: {exc}", file=sys.stderr)
        return 1
    async with connection:
        context = Context(connection, exchange, sys.stdout, _ask)
        return await run(args, context)


def _ask(question: str) -> bool:
    """Ask on the terminal; a non-interactive run is never taken as a yes."""
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
