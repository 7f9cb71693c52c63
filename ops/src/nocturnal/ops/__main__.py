"""Run the operator CLI: `python -m nocturnal.ops dlq list` (see `--help`)."""

from __future__ import annotations

import sys

from nocturnal.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
