"""A whole bench run: start the testbed and the stack, run the chosen scenarios, report.

Order: P1-P3 and P7 on one stack while it is fresh, then P6 and P5 (which leave data behind),
then the scaling rows on stacks of their own. Each scenario's failure is reported and the run
goes on, so one broken part never costs the other figures.
"""

from __future__ import annotations

import os
import statistics
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.bench.accounts import Account, post_duty
from tools.bench.conditions import conditions
from tools.bench.context import Closed, Run
from tools.bench.plot import draw
from tools.bench.report import table, write_json
from tools.bench.scenarios.duty_read import run_p1
from tools.bench.scenarios.events import run_p6
from tools.bench.scenarios.faults import run_faults
from tools.bench.scenarios.health import run_p2
from tools.bench.scenarios.logins import run_p7
from tools.bench.scenarios.ratelimit_check import run_p3
from tools.bench.scenarios.scaling import run_scaling
from tools.bench.scenarios.uploads import run_p5
from tools.bench.seed_stack import SeedStack, SeedStackError, node_binary, start_seed_stack
from tools.bench.settings import BenchSettings, seed_stack_note
from tools.bench.testbed import RAISED_POLICIES, Testbed, testbed
from tools.bench.wrk import wrk_binary
from tools.devstack import Stack


def _seed(settings: BenchSettings, bed: Testbed) -> tuple[SeedStack | None, str | None]:
    note = seed_stack_note(settings, node_binary())
    if note is not None or settings.seed_stack_dir is None:
        return None, note
    try:
        seed = start_seed_stack(
            settings.seed_stack_dir,
            mongo_url=bed.mongo.url,
            redis_url=bed.redis.url,
            cache_dir=settings.run_dir / "seed-node",
            log_dir=bed.logs,
        )
    except SeedStackError as exc:
        return None, f"the Node stack did not start: {exc}"
    return seed, None


def _guarded(run: Run, name: str, step: Callable[[], Any]) -> Any:
    try:
        return step()
    except Exception as exc:  # one scenario's failure must not cost the others
        run.say(f"{name} FAILED: {exc!r}")
        run.details.setdefault("failures", {})[name] = traceback.format_exc()
        return None


def _stack_scenarios(run: Run) -> None:
    s = run.settings
    p1: dict[str, list[Closed]] | None = None
    if s.wants("P1"):
        p1 = _guarded(run, "P1", lambda: run_p1(run))
    if s.wants("P2"):
        _guarded(run, "P2", lambda: run_p2(run))
    if s.wants("P3"):
        api_max = statistics.mean(c.rps for c in p1["direct"]) if p1 else None
        _guarded(run, "P3", lambda: run_p3(run, api_max))
    if s.wants("FAULTS"):
        _guarded(run, "FAULTS", lambda: run_faults(run))
    if s.wants("P7"):
        _guarded(run, "P7", lambda: run_p7(run))
    if s.wants("P6"):
        _guarded(run, "P6", lambda: run_p6(run))
    if s.wants("P5"):
        _guarded(run, "P5", lambda: run_p5(run))


def _seed_stack_state(run: Run) -> str:
    """What became of the Node stack (P1's baseline) in this run."""
    if not run.settings.wants("P1"):
        return "not run: P1 not selected"
    return run.seed_note or "ran"


def _outputs(run: Run, stamp: str, started_conditions: dict[str, Any]) -> tuple[Path, Path]:
    s = run.settings
    base = s.out_dir / f"bench-{stamp}"
    json_path, png_path = base.with_suffix(".json"), base.with_suffix(".png")
    document = {
        "conditions": started_conditions
        | {"load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "settings": s.__dict__ | {"raised_policies": RAISED_POLICIES},
        "baselines": {"seed_stack": _seed_stack_state(run)},
        "figures": [figure.to_json() for figure in run.figures],
        "details": run.details,
        "duration_s": round(time.monotonic() - run.started, 1),
    }
    write_json(json_path, document)
    draw(png_path, run.figures, started_conditions)
    for link, target in (("latest.json", json_path), ("latest.png", png_path)):
        (s.out_dir / link).unlink(missing_ok=True)
        (s.out_dir / link).symlink_to(target.name)
    return json_path, png_path


def _start_run(settings: BenchSettings, bed: Testbed, stack: Stack, stamp: str) -> Run:
    admin = Account.register(stack.base_url, "hospital_admin")
    run = Run(
        settings=settings,
        bed=bed,
        stack=stack,
        admin=admin,
        doctor=Account.register(stack.base_url, "doctor"),
        duty_id=post_duty(stack.base_url, admin),
        seed=None,
        seed_note=None,
        profile_dir=settings.out_dir / f"profiles-{stamp}" if settings.profile else None,
    )
    if settings.wants("P1"):
        run.seed, run.seed_note = _seed(settings, bed)
        run.say(run.seed_note or f"Node seed stack up at {run.seed.url if run.seed else ''}")
    return run


def run_bench(settings: BenchSettings) -> int:
    """Run the bench; 0 when every chosen scenario produced its figures, 1 otherwise."""
    if wrk_binary() is None:
        print("bench: wrk is not installed (bash tools/bootstrap.sh --bench)")
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(f"bench: scenarios {', '.join(settings.scenarios)}{' (quick)' if settings.quick else ''}")
    with testbed(settings) as bed:
        started_conditions = conditions(bed.amqp_url)
        print(
            f"bench: load average {started_conditions['load_average_start']} at start", flush=True
        )
        stack = bed.stack("main")
        try:
            run = _start_run(settings, bed, stack, stamp)
            try:
                _stack_scenarios(run)
            finally:
                if run.seed is not None:
                    run.seed.stop()
        finally:
            stack.stop()
        if settings.wants("SCALING"):
            _guarded(run, "SCALING", lambda: run_scaling(run, bed))
    print("\n" + table(run.figures), flush=True)
    json_path, png_path = _outputs(run, stamp, started_conditions)
    print(f"\nbench: wrote {json_path} and {png_path} in {time.monotonic() - run.started:.0f} s")
    failures = run.details.get("failures", {})
    if failures:
        print(
            f"bench: {len(failures)} scenario(s) failed: {', '.join(failures)} (tracebacks in the JSON)"
        )
    return 1 if failures else 0
