"""``dlq`` commands: list dead-letter queues, show, replay and purge their messages."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from nocturnal.ops.dead_letters import (
    DeadLetter,
    QueueNotFound,
    dead_letter_queue_names,
    depths,
    discard,
    peek,
    purge,
    replay,
)

if TYPE_CHECKING:
    from nocturnal.ops.cli import Context


def register(groups: Any) -> None:
    """Add the ``dlq`` group and its commands to the root parser's sub-parsers."""
    parser = groups.add_parser("dlq", help="dead-letter queues", description=__doc__)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="every dead-letter queue with its depth")
    listing.set_defaults(command=list_queues)

    show = commands.add_parser("show", help="messages with their death reason (kept in place)")
    _queue_argument(show)
    show.add_argument("--limit", type=_positive, default=20, help="at most this many (20)")
    show.add_argument("--body", action="store_true", help="print each message's body too")
    show.set_defaults(command=show_messages)

    again = commands.add_parser("replay", help="send messages back to the queue they died in")
    _queue_argument(again)
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", help="the message (event) id to replay")
    which.add_argument("--all", action="store_true", help="every message of the queue")
    again.set_defaults(command=replay_messages)

    drop = commands.add_parser("purge", help="delete messages, after confirmation")
    _queue_argument(drop)
    drop.add_argument("--id", help="only the message(s) with this message (event) id")
    drop.add_argument("--yes", action="store_true", help="confirm without asking")
    drop.set_defaults(command=purge_messages)


async def list_queues(args: argparse.Namespace, context: Context) -> int:
    """Print each dead-letter queue of the catalogue with its depth and consumers."""
    names = dead_letter_queue_names(context.exchange)
    for depth in await depths(context.connection, names):
        shown = "not declared" if depth.messages is None else f"{depth.messages} messages"
        consumers = f", {depth.consumers} consumers" if depth.consumers else ""
        print(f"{depth.name}\t{shown}{consumers}", file=context.out)
    return 0


async def show_messages(args: argparse.Namespace, context: Context) -> int:
    """Print the first messages of a dead-letter queue with why each died; none is consumed."""
    queue = _queue_name(args.queue, context)
    try:
        messages = await peek(context.connection, queue, limit=args.limit)
    except QueueNotFound as exc:
        return _fail(context, str(exc))
    print(f"{queue}: showing {len(messages)} message(s)", file=context.out)
    for number, message in enumerate(messages, start=1):
        print(_describe(number, message, body=args.body), file=context.out)
    return 0


async def replay_messages(args: argparse.Namespace, context: Context) -> int:
    """Replay one message (``--id``) or all to the queue each died in, each exactly once."""
    queue = _queue_name(args.queue, context)
    try:
        report = await replay(context.connection, queue, message_id=args.id)
    except QueueNotFound as exc:
        return _fail(context, str(exc))
    for message_id in report.replayed:
        print(f"replayed {message_id}", file=context.out)
    for message_id, why in report.refused.items():
        print(f"kept {message_id}: {why}", file=context.out)
    if args.id is not None and not report.replayed and not report.refused:
        return _fail(context, f"no message {args.id!r} in {queue}")
    print(f"{len(report.replayed)} replayed, {len(report.refused)} kept", file=context.out)
    return 1 if report.refused else 0


async def purge_messages(args: argparse.Namespace, context: Context) -> int:
    """Delete every message of a dead-letter queue, or those of one id, once confirmed."""
    queue = _queue_name(args.queue, context)
    what = f"the messages with id {args.id!r}" if args.id else "every message"
    if not args.yes and not context.confirm(f"Delete {what} of {queue} for good?"):
        return _fail(context, "not confirmed: nothing deleted (use --yes to confirm)")
    try:
        if args.id is None:
            deleted = await purge(context.connection, queue)
        else:
            deleted = await discard(context.connection, queue, args.id)
    except QueueNotFound as exc:
        return _fail(context, str(exc))
    print(f"deleted {deleted} message(s) from {queue}", file=context.out)
    return 0


def _describe(number: int, message: DeadLetter, *, body: bool) -> str:
    deliveries = "?" if message.deliveries is None else str(message.deliveries)
    lines = [
        f"{number}. {message.message_id} {message.routing_key} ({message.event_type})",
        f"   reason: {message.reason}" + (f": {message.detail}" if message.detail else ""),
        f"   died in {message.queue} at {message.died_at}, deliveries {deliveries},"
        f" replayed {message.replays} time(s)",
    ]
    for death in message.deaths:
        lines.append(
            f"   x-death: {death.get('reason')} x{death.get('count')} from {death.get('queue')}"
            f" at {death.get('time')}"
        )
    if body:
        lines.append(f"   body: {message.body.decode(errors='replace')}")
    return "\n".join(lines)


def _queue_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "queue", help="a dead-letter queue, or a service name (api → <exchange>.api.dlq)"
    )


def _queue_name(given: str, context: Context) -> str:
    if "." in given:
        return given
    return f"{context.exchange.name}.{given}.dlq"


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def _fail(context: Context, message: str) -> int:
    print(message, file=context.out)
    return 1
