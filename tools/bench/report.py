"""The run's outputs: the table on the terminal and the JSON file with every condition."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tools.bench.results import Figure, digits_for, span


def _row(figure: Figure) -> list[str]:
    places = digits_for(figure.values + figure.baseline_values)
    ratios = figure.ratios
    return [
        figure.key,
        span(figure.values, places, f" {figure.unit}"),
        f"{figure.baseline}: {span(figure.baseline_values, places)}" if figure.baseline else "-",
        span(ratios, 2, "x") if ratios else "-",
        figure.target.text if figure.target else "",
        figure.verdict if figure.target else "",
    ]


def table(figures: list[Figure]) -> str:
    """The figures as an aligned text table (values, baseline, ratio, target, verdict)."""
    header = ["figure", "value (range)", "baseline (range)", "ratio", "target", "verdict"]
    rows = [header, *(_row(figure) for figure in figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {f.key}: {f.what}" + (f" — {f.note}" if f.note else "") for f in figures]
    return (
        "\n".join(line.rstrip() for line in lines) + "\n\nwhat each figure is:\n" + "\n".join(notes)
    )


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, dataclasses their dicts."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write the run's document (figures, conditions, details) as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(document), indent=2, ensure_ascii=False) + "\n")
