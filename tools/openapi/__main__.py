"""`python -m tools.openapi [--check]` (what `make openapi` calls): write docs/openapi.json, or
with --check fail when the checked-in one is not what the code generates."""

import sys

from tools.openapi import DOCUMENT_PATH, gateway_document, render


def main(argv: list[str]) -> int:
    """Write (or check) the gateway's document; 1 when --check finds it stale."""
    current = render(gateway_document())
    if "--check" in argv:
        if DOCUMENT_PATH.exists() and DOCUMENT_PATH.read_text() == current:
            return 0
        print(f"{DOCUMENT_PATH} is stale: run `make openapi`", file=sys.stderr)
        return 1
    DOCUMENT_PATH.write_text(current)
    print(f"wrote {DOCUMENT_PATH}")
    return 0


sys.exit(main(sys.argv[1:]))
