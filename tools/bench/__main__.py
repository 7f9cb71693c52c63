"""`python -m tools.bench`: run the benchmark (see tools/bench/settings.py for the options)."""

from __future__ import annotations

import os
import signal
import sys

from tools.bench.runner import run_bench
from tools.bench.settings import settings_from_cli


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM stops a run like Ctrl-C: every `finally` stops what the run started.
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        settings = settings_from_cli(sys.argv[1:], os.environ)
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    return run_bench(settings)


if __name__ == "__main__":
    sys.exit(main())
