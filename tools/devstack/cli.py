"""The command line behind `make run`: settings from flags and environment, run until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence

from tools.devstack.errors import StackError
from tools.devstack.instances import DEFAULT_INSTANCES, SERVICES
from tools.devstack.servers import DEFAULT_AMQP_URL, DEFAULT_REDIS_URL
from tools.devstack.stack import DEFAULT_EVENTS_EXCHANGE, DEFAULT_S3_BUCKET, Stack, StackSettings


def settings_from_cli(argv: Sequence[str] | None, environ: Mapping[str, str]) -> StackSettings:
    """Settings from the command line, then the environment, then the defaults."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.devstack",
        description="Run every Nocturnal service behind a local nginx gateway.",
    )
    for service in SERVICES:
        parser.add_argument(f"--{service}", type=int, metavar="N", help=f"{service} instances")
    parser.add_argument("--gateway-port", type=int, help="public port (default 8080)")
    parser.add_argument("--moto", action="store_true", help="start a moto S3 server, use s3")
    args = parser.parse_args(argv)

    def count(service: str) -> int:
        given = getattr(args, service)
        if given is not None:
            return int(given)
        return int(environ.get(f"{service.upper()}_INSTANCES", DEFAULT_INSTANCES[service]))

    return StackSettings(
        instances={service: count(service) for service in SERVICES},
        gateway_port=args.gateway_port or int(environ.get("GATEWAY_PORT", "8080")),
        mongo_url=environ.get("MONGO_URL") or None,
        redis_url=environ.get("REDIS_URL") or DEFAULT_REDIS_URL,
        amqp_url=environ.get("AMQP_URL") or DEFAULT_AMQP_URL,
        s3_endpoint_url=environ.get("S3_ENDPOINT_URL") or None,
        moto=args.moto,
        s3_bucket=environ.get("S3_BUCKET") or DEFAULT_S3_BUCKET,
        events_exchange=environ.get("EVENTS_EXCHANGE") or DEFAULT_EVENTS_EXCHANGE,
    )


def _stop_on_signal(signum: int, frame: object) -> None:
    # Once is enough: a second Ctrl-C must not cut the shutdown short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def watch(stack: Stack) -> None:
    """Report any instance, the gateway or a server the stack started exiting, until
    interrupted."""
    while True:
        for child in stack.exited():
            print(
                f"devstack: {child.name} exited with code {child.proc.returncode}; "
                f"last lines of {child.log_path}:\n{child.tail()}",
                flush=True,
            )
        time.sleep(1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack until Ctrl-C or SIGTERM; non-zero exit when anything fails to start."""
    try:
        settings = settings_from_cli(argv, os.environ)
    except ValueError as exc:
        print(f"devstack: bad instance count or port: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    stack = Stack(settings)
    try:
        stack.start()
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("devstack: interrupted while starting; stopped what it had started", flush=True)
        return 130
    print(f"{stack.describe()}\n\nNocturnal is up at {stack.base_url}  (Ctrl-C stops it)")
    try:
        watch(stack)
    except KeyboardInterrupt:
        print("\ndevstack: stopping ...", flush=True)
    finally:
        stack.stop()
    print("devstack: stopped", flush=True)
    return 0
