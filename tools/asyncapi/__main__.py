"""`python -m tools.asyncapi [--check]` (what `make asyncapi` calls): write `docs/asyncapi.json`
from the event catalogue and validate it; `--check` only says whether the file is current."""

from __future__ import annotations

import argparse
import sys

from tools.asyncapi import DOCUMENT, render, validate


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.asyncapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    args = parser.parse_args()
    current = render()
    if args.check:
        if DOCUMENT.read_text() != current:
            print(f"{DOCUMENT} is not current: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(current)
    result = validate()
    print(result.output, end="")
    print(f"wrote {DOCUMENT.relative_to(DOCUMENT.parents[1])}")
    return 1 if result.problems else 0


sys.exit(main())
