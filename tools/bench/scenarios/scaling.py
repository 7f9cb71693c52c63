"""Scaling: the original's load-test table made real, and projected on paper.

Each row is a fresh stack (same SecantusDB, Redis and exchange) with 1 or 2 api and 1 or 2
ratelimit instances, driven through the gateway on GET /api/duties/{id}: throughput (wrk), p99
at one fixed rate for every row (open loop, half the first row's maximum), and the resource
that saturated. The api reaches ratelimit through nginx's internal listener here (it balances
two instances), unlike P1-P3. On a 2-core machine more instances add no CPU: these rows measure
contention for the same cores, not capacity.

The projection to 3 and 10 instances uses the CPU each component spent per request in the first
row; its assumptions are written beside it (`PROJECTION_ASSUMPTIONS`).
"""

from __future__ import annotations

import math
import os
from typing import Any

from tools.bench.context import Closed, Run
from tools.bench.loadgen import OpenLoopReport, Request
from tools.bench.processes import CpuUse
from tools.bench.results import Figure
from tools.bench.testbed import Testbed, stack_pids

SCALING_CONNECTIONS = 64
HPA_CPU_TARGET = 0.7
PROJECTED_INSTANCES = (1, 3, 10)
PROJECTION_ASSUMPTIONS = (
    "each api and ratelimit pod has one dedicated core and runs at the HPA's 70 % CPU target",
    "CPU per request stays what the 1x1 row measured (no contention, no cache effects)",
    "ratelimit pods scale with the api (their count follows from CPU per check)",
    "Redis is one single-threaded server: the projection stops where it would reach 70 % of a core",
    "MongoDB is a real replica set, not the bench's SecantusDB, and is not the bottleneck",
    "the gateway (nginx) and the network add capacity as needed",
)


def _component(cpu: CpuUse, prefix: str) -> float:
    return sum(seconds for name, seconds in cpu.seconds.items() if name.startswith(prefix))


def project(closed: Closed) -> dict[str, Any]:
    """Requests/s for 1, 3 and 10 api instances from the 1x1 row's CPU per request."""
    requests = closed.wrk.requests
    per_request = {
        name: _component(closed.cpu, name) / requests
        for name in ("api", "ratelimit", "redis", "gateway", "mongo")
    }
    api_s, ratelimit_s, redis_s = (per_request[n] for n in ("api", "ratelimit", "redis"))
    redis_cap = HPA_CPU_TARGET / redis_s if redis_s else math.inf
    rows = []
    for instances in PROJECTED_INSTANCES:
        demand = instances * HPA_CPU_TARGET / api_s
        rps = min(demand, redis_cap)
        rows.append(
            {
                "api_instances": instances,
                "rps": round(rps),
                "ratelimit_instances": math.ceil(round(rps * ratelimit_s / HPA_CPU_TARGET, 6)),
                "redis_core_share": round(rps * redis_s, 2),
                "limited_by": "api CPU" if demand <= redis_cap else "Redis (one core)",
            }
        )
    return {
        "cpu_ms_per_request": {n: round(1000 * s, 3) for n, s in per_request.items()},
        "rows": rows,
        "assumptions": list(PROJECTION_ASSUMPTIONS),
        "original_table": {"1": 1200, "3": 3600, "10": 12000},
    }


def _row(run: Run, bed: Testbed, api: int, ratelimit: int, rate: float | None) -> dict[str, Any]:
    label = f"{api}x{ratelimit}"
    run.say(f"scaling {label}: starting a stack with {api} api and {ratelimit} ratelimit")
    stack = bed.stack(f"scale-{api}x{ratelimit}", api=api, ratelimit=ratelimit, direct=False)
    try:
        run.admin.base_url = stack.base_url
        request = Request(
            "GET", f"{stack.base_url}/api/duties/{run.duty_id}", run.bearer(run.admin)
        )
        run.stack, saved = stack, run.stack
        try:
            closed = run.closed(request, connections=SCALING_CONNECTIONS, warmup=True)
            fixed_rate = rate or closed.rps / 2
            report, _ = run.open_loop(request, fixed_rate)
        finally:
            run.stack = saved
        saturating = closed.cpu.saturating(cores=os.cpu_count() or 1)
        run.say(
            f"scaling {label}: {closed.rps:6.0f} req/s, p99 {report.latency_ms['p99']:.1f} ms "
            f"at {fixed_rate:.0f}/s; saturating: {saturating}"
        )
        return {
            "label": label,
            "closed": closed,
            "open": report,
            "rate": fixed_rate,
            "saturating": saturating,
            "pids": stack_pids(stack),
        }
    finally:
        stack.stop()


def run_scaling(run: Run, bed: Testbed) -> None:
    """Measure every configured row and add the scaling figures and the projection."""
    rows: list[dict[str, Any]] = []
    for api, ratelimit in run.settings.scaling_rows:
        rate = rows[0]["rate"] if rows else None
        rows.append(_row(run, bed, api, ratelimit, rate))
    first: Closed = rows[0]["closed"]
    for row in rows:
        closed: Closed = row["closed"]
        report: OpenLoopReport = row["open"]
        run.add(
            Figure(
                key=f"scale {row['label']}",
                what=f"api x ratelimit {row['label']}, gateway; saturating: {row['saturating']}",
                unit="req/s",
                values=[closed.rps],
                baseline="1x1 row" if row is not rows[0] else None,
                baseline_values=[first.rps] if row is not rows[0] else [],
                note="2 cores: measures contention, not capacity",
            )
        )
        run.add(
            Figure(
                key=f"scale {row['label']} p99",
                what=f"p99 at {row['rate']:.0f} req/s (open loop), {row['label']}",
                unit="ms",
                values=[report.latency_ms["p99"]],
            )
        )
    projection = project(first)
    run.details["scaling"] = {
        "rows": [
            {
                "label": row["label"],
                "closed": row["closed"].to_json(),
                "open": row["open"].__dict__,
                "saturating": row["saturating"],
            }
            for row in rows
        ],
        "projection": projection,
    }
    for line in projection["rows"]:
        run.say(
            f"projection: {line['api_instances']:2d} api → {line['rps']:6d} req/s "
            f"({line['ratelimit_instances']} ratelimit, Redis {line['redis_core_share']:.0%} of a core, "
            f"limited by {line['limited_by']})"
        )
