"""The command line behind `make demo`: run the scenario, print each section, exit 1 on divergence."""

from __future__ import annotations

import argparse
import asyncio
import os

from tools.demo.report import Section, render_header, render_section
from tools.demo.runner import new_run_id, run_demo

DEFAULT_BASE_URL = "http://localhost:8080"
DESCRIPTION = (
    "Demo scenario: drives the public HTTP API through the gateway and checks it against DESIGN §1."
)


def main(argv: list[str] | None = None) -> int:
    """Run the scenario against --base-url, printing each section as it completes; 0 when OK."""
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=DESCRIPTION)
    parser.add_argument(
        "--base-url",
        default=os.environ.get("GATEWAY_URL", DEFAULT_BASE_URL),
        help="gateway URL (default: $GATEWAY_URL or %(default)s)",
    )
    args = parser.parse_args(argv)
    run_id = new_run_id()
    print(render_header(args.base_url, run_id))

    def show(section: Section) -> None:
        print(render_section(section), flush=True)

    report = asyncio.run(run_demo(args.base_url, run_id=run_id, on_section=show))
    print(report.render_summary())
    return 0 if report.ok else 1
