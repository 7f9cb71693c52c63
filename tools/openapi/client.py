"""A Python client generated from docs/openapi.json with openapi-python-client (httpx and attrs
models, one module per operation), as an integrator would make one. Not checked in: generated
on demand (`make client`, the e2e test) from the document that is."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.openapi import DOCUMENT_PATH

PACKAGE = "nocturnal_client"
GENERATOR_CONFIG = {
    "package_name_override": PACKAGE,
    "project_name_override": "nocturnal-client",
    # The formatter hooks need ruff on PATH; the generated code is read, not linted.
    "post_hooks": [],
    # Downloads are bytes whatever their type: one binary answer, not one per image type.
    "content_type_overrides": {
        media_type: "application/octet-stream"
        for media_type in ("image/jpeg", "image/png", "image/webp", "application/pdf")
    },
}


class ClientGenerationError(RuntimeError):
    """openapi-python-client failed; the message holds its output."""


def generate_client(target: Path, document: Path = DOCUMENT_PATH) -> Path:
    """Generate the client package of `document` into `target` (replaced if it exists); the
    directory to put on `sys.path` to `import nocturnal_client`.

    Raises:
        ClientGenerationError: the generator failed.
    """
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "config.json"
        config.write_text(json.dumps(GENERATOR_CONFIG))
        command = [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(target / PACKAGE),
            "--overwrite",
            "--fail-on-warning",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise ClientGenerationError(f"openapi-python-client failed:\n{done.stdout}{done.stderr}")
    return target


def main(argv: list[str]) -> int:
    """`python -m tools.openapi.client [DIR]`: generate the client into DIR (build/client)."""
    target = Path(argv[0] if argv else "build/client")
    generate_client(target)
    print(f"generated {target / PACKAGE}: put {target} on PYTHONPATH, then `import {PACKAGE}`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
