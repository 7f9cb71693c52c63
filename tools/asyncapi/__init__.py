"""The AsyncAPI document of the events (`docs/asyncapi.json`): written from the catalogue by
`make asyncapi`, validated with the AsyncAPI parser (`validate.mjs`, npm `@asyncapi/parser`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from nocturnal.shared.events.asyncapi import asyncapi_document

ROOT: Final = Path(__file__).resolve().parents[2]
DOCUMENT: Final = ROOT / "docs" / "asyncapi.json"
VALIDATOR: Final = Path(__file__).resolve().parent / "validate.mjs"
NODE_MODULES: Final = VALIDATOR.parent / "node_modules"


def render() -> str:
    """The document as it is checked in: JSON, two-space indents, a final newline."""
    return json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Validation:
    """What the AsyncAPI parser said: `problems` are errors and warnings, one line each."""

    problems: list[str]
    output: str


def validate(path: Path = DOCUMENT, *, timeout_s: float = 120) -> Validation:
    """Parse `path` with `@asyncapi/parser` (AsyncAPI's JSON Schema plus its semantic rules).

    Raises:
        RuntimeError: node or the parser's npm packages are missing (`make install` installs
            them).
    """
    node = shutil.which("node")
    if node is None or not NODE_MODULES.is_dir():
        raise RuntimeError("node or tools/asyncapi/node_modules missing: run `make install`")
    done = subprocess.run(
        [node, str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    problems = [line for line in done.stdout.splitlines() if line.startswith(("error", "warning"))]
    if done.returncode != 0 and not problems:
        problems = [f"the parser failed (exit {done.returncode}): {done.stderr.strip()}"]
    return Validation(problems, done.stdout + done.stderr)
