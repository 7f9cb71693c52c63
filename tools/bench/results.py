"""Figures: values per round, the same-run baseline beside them, ratios, targets and verdicts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Target:
    """A goal from issue 6, item 3: the ratio (or the value itself) must be >= or <= a bound."""

    text: str
    on: Literal["ratio", "value"]
    op: Literal[">=", "<="]
    bound: float

    def met_by(self, x: float) -> bool:
        if math.isnan(x):
            return False
        return x >= self.bound if self.op == ">=" else x <= self.bound


@dataclass
class Figure:
    """One measured figure: a value per round and, where one exists, the baseline of that round.

    Rounds alternate subject and baseline (A, B, A, B), so each round's ratio compares two runs
    taken seconds apart; the spread of the ratios is the noise the machine added.
    """

    key: str
    what: str
    unit: str
    values: list[float]
    baseline: str | None = None
    baseline_values: list[float] = field(default_factory=list)
    target: Target | None = None
    note: str = ""

    @property
    def ratios(self) -> list[float]:
        pairs = zip(self.values, self.baseline_values, strict=False)
        return [value / base if base else math.nan for value, base in pairs]

    def judged(self) -> list[float]:
        """What the target is checked against, one per round."""
        if self.target is None:
            return []
        return self.ratios if self.target.on == "ratio" else self.values

    @property
    def verdict(self) -> str:
        """pass (every round meets the target), fail (none does), mixed, or n/a."""
        judged = [x for x in self.judged() if not math.isnan(x)]
        if self.target is None or not judged:
            return "n/a"
        met = [self.target.met_by(x) for x in judged]
        if all(met):
            return "pass"
        return "fail" if not any(met) else "mixed"

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "what": self.what,
            "unit": self.unit,
            "values": [_round(v) for v in self.values],
            "baseline": self.baseline,
            "baseline_values": [_round(v) for v in self.baseline_values],
            "ratios": [_round(r, 3) for r in self.ratios],
            "target": self.target.text if self.target else None,
            "verdict": self.verdict,
            "note": self.note,
        }


def _round(value: float, digits: int = 2) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def span(values: list[float], digits: int = 0, suffix: str = "") -> str:
    """ "min-max" of `values` (one value alone when they agree), e.g. "365-426"."""
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return "-"
    low, high = min(clean), max(clean)
    text = f"{low:.{digits}f}"
    if f"{high:.{digits}f}" != text:
        text += f"-{high:.{digits}f}"
    return text + suffix


def digits_for(values: list[float]) -> int:
    """Decimals that show `values` usefully: none for hundreds, two below ten."""
    clean = [abs(v) for v in values if not math.isnan(v)]
    top = max(clean, default=0.0)
    return 0 if top >= 100 else 1 if top >= 10 else 2
