"""The per-fault table: requests, statuses and p50/p99 latency before, during and after.

`record(fault, load)` prints the fault's rows and appends them to `REPORT_PATH`
(build/chaos/faults.md, git-ignored), which the chaos package starts afresh each session:

    | fault | phase | requests | statuses | errors | p50 ms | p99 ms |
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from chaos.driver import PHASES, SteadyLoad
from tools.devstack import ROOT

REPORT_PATH = ROOT / "build" / "chaos" / "faults.md"
HEADER = (
    "| fault | phase | requests | statuses | errors | p50 ms | p99 ms |\n"
    "|---|---|---:|---|---:|---:|---:|\n"
)


def start_report(path: Path = REPORT_PATH) -> None:
    """Begin a fresh table (the chaos conftest calls this once per session)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER)


def rows(fault: str, load: SteadyLoad) -> list[str]:
    """The table rows of one fault: one per phase that saw requests."""
    lines = []
    for phase in PHASES:
        outcomes = load.in_phase(phase)
        if not outcomes:
            continue
        statuses = Counter(o.status for o in outcomes if o.status is not None)
        errors = sum(1 for o in outcomes if o.status is None)
        shown = " ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
        p50, p99 = np.percentile([o.latency_ms for o in outcomes], [50, 99])
        lines.append(
            f"| {fault} | {phase} | {len(outcomes)} | {shown} | {errors} | {p50:.0f} | {p99:.0f} |"
        )
    return lines


def record(fault: str, load: SteadyLoad, path: Path = REPORT_PATH) -> str:
    """Print the fault's rows and append them to the report file; return them."""
    text = "\n".join(rows(fault, load))
    if not path.exists():
        start_report(path)
    with path.open("a") as report:
        report.write(text + "\n")
    print(f"\n{HEADER}{text}")
    return text
