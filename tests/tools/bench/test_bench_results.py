"""Figures: ratios per round, verdicts against targets, ranges as printed."""

from __future__ import annotations

import math

from tools.bench.report import table
from tools.bench.results import Figure, Target, span

AT_LEAST_TWICE = Target("≥ 2x", "ratio", ">=", 2.0)
AT_MOST_FIVE = Target("≤ 5 ms", "value", "<=", 5.0)


def test_ratios_pair_each_round_with_its_own_baseline() -> None:
    figure = Figure("P1", "x", "req/s", [400, 600], "node", [200, 200], AT_LEAST_TWICE)

    assert figure.ratios == [2.0, 3.0]
    assert figure.verdict == "pass"


def test_a_target_met_in_some_rounds_only_is_mixed() -> None:
    figure = Figure("P1", "x", "req/s", [300, 500], "node", [200, 200], AT_LEAST_TWICE)

    assert figure.verdict == "mixed"


def test_a_target_met_in_no_round_fails() -> None:
    figure = Figure("P3 p99", "x", "ms", [6.0, 9.0], target=AT_MOST_FIVE)

    assert figure.verdict == "fail"


def test_a_ratio_target_without_a_baseline_is_not_judged() -> None:
    figure = Figure("P1", "x", "req/s", [400], target=AT_LEAST_TWICE)

    assert figure.verdict == "n/a"


def test_a_missing_value_never_meets_a_target() -> None:
    assert not AT_MOST_FIVE.met_by(math.nan)


def test_span_prints_one_value_when_the_rounds_agree() -> None:
    assert span([365.2, 426.4]) == "365-426"
    assert span([0.5, 0.5], 2, "x") == "0.50x"
    assert span([math.nan]) == "-"


def test_table_shows_value_baseline_ratio_target_and_verdict() -> None:
    figure = Figure(
        "P1 direct", "GET duty", "req/s", [800, 900], "node", [400, 400], AT_LEAST_TWICE
    )

    text = table([figure])

    row = next(line for line in text.splitlines() if line.startswith("P1 direct"))
    assert "800-900 req/s" in row
    assert "node: 400" in row
    assert "2.00-2.25x" in row
    assert row.rstrip().endswith("pass")
