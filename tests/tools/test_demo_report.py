"""tools.demo.report, steps and runner: how checks become lines, divergences and a verdict."""

from __future__ import annotations

import pytest

from tools.demo.context import DemoContext
from tools.demo.report import DemoReport, DivergenceError, PhaseSkipped, Section, render_section
from tools.demo.runner import run_phase
from tools.demo.steps import require, settle


def test_a_check_records_a_pass_or_what_was_expected_and_got() -> None:
    section = Section("Duties")

    assert section.verify("status", "OPEN", "OPEN")
    assert not section.verify("positions_filled", 0, 1)
    assert not section.verify("hours", "8", "7", ok=False)

    assert section.divergences == [
        "positions_filled: expected 0, got 1",
        "hours: expected 8, got 7",
    ]


def test_ensure_records_only_failures() -> None:
    section = Section("Registration")

    section.ensure("user.role", "nurse", "nurse")
    section.ensure("user.name", "Grace Liu", "Grace")

    assert [line.ok for line in section.lines] == [False]


def test_the_report_names_the_phase_of_each_divergence_and_fails() -> None:
    passed, failed = Section("Gateway and health"), Section("Profiles")
    passed.passed("10 x GET /api/health")
    failed.failed("profile of Amara", "a profile", "404")
    failed.note("waited 10 s")
    report = DemoReport("http://gateway", "run1", [passed, failed])

    assert not report.ok
    assert report.divergences == ["[Profiles] profile of Amara: expected a profile, got 404"]
    summary = report.render_summary()
    assert "Summary: 2 checks, 1 divergences" in summary
    assert summary.endswith("RESULT: FAILED")
    assert "  ✗ profile of Amara: expected a profile, got 404" in render_section(failed)
    assert "  · waited 10 s" in render_section(failed)


def test_a_report_without_divergences_is_ok() -> None:
    section = Section("Duties")
    section.passed("10 duties posted")

    report = DemoReport("http://gateway", "run1", [section])

    assert report.ok
    assert report.render().endswith("RESULT: OK, the platform matches the contract")


async def test_settle_keeps_results_and_records_each_kind_of_divergence_once() -> None:
    section = Section("Registration")

    async def ok(n: int) -> int:
        return n

    async def refused(n: int) -> int:
        raise DivergenceError(f"register {n}", "HTTP 201", "HTTP 503")

    kept = await settle(section, [ok(1), refused(2), ok(3), refused(4), refused(5)])

    assert kept == [1, 3]
    assert section.divergences == [
        "register 2 (and 2 more like it): expected HTTP 201, got HTTP 503"
    ]


async def test_settle_does_not_swallow_a_bug() -> None:
    async def broken() -> int:
        raise KeyError("a bug in the demo, not a divergence")

    with pytest.raises(KeyError):
        await settle(Section("x"), [broken()])


async def test_a_phase_that_diverges_or_lacks_what_it_needs_is_reported_not_raised() -> None:
    ctx = DemoContext(client=None, run_id="run1", today=None)  # type: ignore[arg-type]

    async def diverges(ctx: DemoContext, section: Section) -> None:
        section.passed("first check")
        raise DivergenceError("GET /api/duties", "HTTP 200", "HTTP 500")

    async def cannot_run(ctx: DemoContext, section: Section) -> None:
        require(False, "no duty was posted")

    failed = await run_phase("Duty listing", diverges, ctx)
    skipped = await run_phase("Applications", cannot_run, ctx)

    assert failed.divergences == ["GET /api/duties: expected HTTP 200, got HTTP 500"]
    assert skipped.skipped == "no duty was posted"
    assert skipped.divergences == []


def test_require_raises_phase_skipped_with_its_reason() -> None:
    require(True, "unused")
    with pytest.raises(PhaseSkipped, match="Helen's upload failed"):
        require(False, "Helen's upload failed")
