"""Runs the phases in order against a gateway and collects their sections into a report."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tools.demo.client import GatewayClient
from tools.demo.context import DemoContext
from tools.demo.phases import PHASES, Phase
from tools.demo.report import DemoReport, DivergenceError, PhaseSkipped, Section

ENVELOPES = "Every response"


def summarise_envelopes(client: GatewayClient) -> Section:
    """The cross-cutting checks the client made on every gateway response."""
    audit = client.audit
    section = Section(ENVELOPES)
    section.note(f"{audit.responses} gateway responses, {audit.errors} of them errors")
    for issue, (count, example) in audit.issues.items():
        section.failed(issue, "none", f"{count} (e.g. {example})")
    if not audit.issues:
        section.passed(
            f"all {audit.responses} carried X-Request-ID; "
            f"all {audit.errors} errors were complete problem+json"
        )
    repeated = [rid for rid, n in audit.request_ids.items() if n > 1]
    section.verify("request ids are unique per response", [], repeated)
    return section


async def run_phase(title: str, phase: Phase, ctx: DemoContext) -> Section:
    section = Section(title)
    started = time.perf_counter()
    try:
        await phase(ctx, section)
    except PhaseSkipped as skipped:
        section.skipped = str(skipped)
    except DivergenceError as divergence:
        section.failed(divergence.what, divergence.expected, divergence.got)
    section.seconds = time.perf_counter() - started
    return section


async def run_demo(
    base_url: str,
    *,
    run_id: str | None = None,
    on_section: Callable[[Section], None] | None = None,
) -> DemoReport:
    """Run the whole scenario against the gateway at `base_url` and report what diverged.

    `run_id` makes this run's e-mails unique (random by default), so the scenario can run again
    and again against the same databases; `on_section` sees each section as it completes.
    """
    run_id = run_id or new_run_id()
    report = DemoReport(base_url.rstrip("/"), run_id)
    started = time.perf_counter()
    async with GatewayClient.connect(base_url) as client:
        ctx = DemoContext(client, run_id, datetime.now(UTC).date())

        def emit(section: Section) -> None:
            report.sections.append(section)
            if on_section:
                on_section(section)

        for title, phase in PHASES:
            section = await run_phase(title, phase, ctx)
            if client.unreachable:
                section.note(f"gateway unreachable at {base_url}: the run stops here")
            emit(section)
            if client.unreachable:
                break
        emit(summarise_envelopes(client))
        report.latencies_ms = client.latencies_ms
    report.seconds = time.perf_counter() - started
    return report


def new_run_id() -> str:
    return secrets.token_hex(4)
