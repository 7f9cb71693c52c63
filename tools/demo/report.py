"""What a run saw: sections of checks per phase, divergences, the rendered report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


class DivergenceError(Exception):
    """The platform answered differently from the contract; ends the current phase."""

    def __init__(self, what: str, expected: object, got: object) -> None:
        super().__init__(f"{what}: expected {expected}, got {got}")
        self.what = what
        self.expected = expected
        self.got = got


class PhaseSkipped(Exception):
    """A phase cannot run because an earlier one did not produce what it needs."""


@dataclass(frozen=True)
class Line:
    """One line of a section: a passed check (ok), a divergence (not ok) or a note (None)."""

    ok: bool | None
    text: str


@dataclass
class Section:
    """The outcome of one phase of the scenario."""

    title: str
    lines: list[Line] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None

    def verify(self, what: str, expected: object, got: object, ok: bool | None = None) -> bool:
        """Record a check (passed or not); `ok` defaults to ``expected == got``."""
        passed = expected == got if ok is None else ok
        self.lines.append(Line(passed, what if passed else _mismatch(what, expected, got)))
        return passed

    def ensure(self, what: str, expected: object, got: object, ok: bool | None = None) -> bool:
        """Like `verify`, but only a failure is recorded (for checks repeated per item)."""
        passed = expected == got if ok is None else ok
        if not passed:
            self.lines.append(Line(False, _mismatch(what, expected, got)))
        return passed

    def passed(self, what: str) -> None:
        self.lines.append(Line(True, what))

    def failed(self, what: str, expected: object, got: object) -> None:
        self.lines.append(Line(False, _mismatch(what, expected, got)))

    def note(self, text: str) -> None:
        self.lines.append(Line(None, text))

    @property
    def divergences(self) -> list[str]:
        return [line.text for line in self.lines if line.ok is False]


def _mismatch(what: str, expected: object, got: object) -> str:
    return f"{what}: expected {expected}, got {got}"


@dataclass
class DemoReport:
    """Everything the scenario saw: sections of checks, divergences and key figures."""

    base_url: str
    run_id: str
    sections: list[Section] = field(default_factory=list)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def divergences(self) -> list[str]:
        return [f"[{s.title}] {text}" for s in self.sections for text in s.divergences]

    @property
    def ok(self) -> bool:
        return not self.divergences

    def render(self) -> str:
        parts = [render_header(self.base_url, self.run_id)]
        parts += [render_section(section) for section in self.sections]
        parts.append(self.render_summary())
        return "\n".join(parts)

    def render_summary(self) -> str:
        checks = sum(1 for s in self.sections for line in s.lines if line.ok is not None)
        divergences = self.divergences
        lines = [
            "",
            f"Summary: {checks} checks, {len(divergences)} divergences, "
            f"{len(self.latencies_ms)} requests ({latency_figures(self.latencies_ms)}), "
            f"{self.seconds:.1f} s",
        ]
        if divergences:
            lines.append("Divergences:")
            lines += [f"  {n}. {text}" for n, text in enumerate(divergences, 1)]
        lines.append(
            "RESULT: " + ("OK, the platform matches the contract" if self.ok else "FAILED")
        )
        return "\n".join(lines)


def render_header(base_url: str, run_id: str) -> str:
    return f"Nocturnal demo: run {run_id} against {base_url}"


def render_section(section: Section) -> str:
    marks = {True: "✓", False: "✗", None: "·"}
    lines = [f"\n== {section.title} ({section.seconds:.2f} s)"]
    lines += [f"  {marks[line.ok]} {line.text}" for line in section.lines]
    if section.skipped:
        lines.append(f"  - skipped: {section.skipped}")
    return "\n".join(lines)


def latency_figures(latencies_ms: list[float]) -> str:
    if len(latencies_ms) < 2:
        return "no latency figures"
    cuts = statistics.quantiles(latencies_ms, n=20)
    return f"p50 {cuts[9]:.0f} ms, p95 {cuts[18]:.0f} ms, max {max(latencies_ms):.0f} ms"
