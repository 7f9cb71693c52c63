"""The run drawn as a PNG (matplotlib): ratios against their targets, latencies, scaling."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from tools.bench.results import Figure

COLORS = {"pass": "#2e7d32", "fail": "#c62828", "mixed": "#ef6c00", "n/a": "#607d8b"}


def _bars(ax: Axes, figures: list[Figure], values: str, title: str, unit: str) -> None:
    """One bar per figure at the middle of its range, the range as an error bar."""
    if not figures:
        ax.set_visible(False)
        return
    labels, mids, lows, highs, colors = [], [], [], [], []
    for figure in figures:
        data = [
            v for v in (figure.ratios if values == "ratio" else figure.values) if math.isfinite(v)
        ]
        if not data:
            continue
        low, high = min(data), max(data)
        labels.append(figure.key)
        mids.append((low + high) / 2)
        lows.append((low + high) / 2 - low)
        highs.append(high - (low + high) / 2)
        colors.append(COLORS[figure.verdict])
    ax.barh(labels, mids, xerr=[lows, highs], color=colors, capsize=3)
    for index, figure in enumerate(f for f in figures if f.key in labels):
        target = figure.target
        if target is not None and target.on == values:
            ax.plot([target.bound] * 2, [index - 0.4, index + 0.4], color="black", lw=2)
    spread = [m for m in mids if m > 0]
    if spread and max(spread) / min(spread) > 100:
        ax.set_xscale("log")  # e.g. P6's seconds beside P3's milliseconds
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(unit)
    ax.grid(axis="x", alpha=0.3)


def draw(path: Path, figures: list[Figure], conditions: dict[str, Any]) -> None:
    """Draw the run into `path`: ratio bars, latency bars, RSS bars, scaling bars.

    Bars span the range over rounds (green: target met in every round, red: in none, orange:
    in some, grey: no target); black ticks mark the targets.
    """
    ratio = [f for f in figures if f.baseline_values and not f.key.startswith("scale")]
    ratio = [f for f in ratio if f.unit.endswith("/s")]  # rates only: costs are lower-is-better
    latency = [f for f in figures if f.unit == "ms" or f.unit == "%"]
    memory = [f for f in figures if f.unit == "MiB" or f.key == "P7 per core"]
    scaling = [f for f in figures if f.key.startswith("scale") and f.unit == "req/s"]
    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
    _bars(axes[0][0], ratio, "ratio", "Ratio to the same-run baseline (higher = faster)", "x")
    _bars(axes[0][1], latency, "value", "Latencies (open loop) and shares", "ms or %")
    _bars(axes[1][0], memory, "value", "Upload RSS growth per upload; logins per core", "MiB or /s")
    _bars(
        axes[1][1], scaling, "value", "Scaling through the gateway (2 cores: contention)", "req/s"
    )
    machine = conditions.get("machine", {})
    fig.suptitle(
        f"Nocturnal bench — {conditions.get('commit', '')[:10]} "
        f"{'(dirty) ' if conditions.get('dirty') else ''}on {machine.get('cores')} cores "
        f"({machine.get('cpu', '')}), load {conditions.get('load_average_start', ['?'])[0]} "
        f"at start, {conditions.get('time', '')}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
