"""P3: the ratelimit service's POST /v1/check per instance against the bare route; its p50/p99
at a fixed rate of half its maximum; the share of an api request's latency spent on the check.

The share is measured from outside, without touching the services: while the api serves
GET /api/duties/{id} at half its maximum rate, a second generator sends /v1/check probes at a
low rate to the same ratelimit instance, so the probes meet the load the api's own checks meet.
Share = p50 of a probe / p50 of an api request. It leaves out what the api spends building the
call and reading the answer, so it is a lower bound of the check's share.
"""

from __future__ import annotations

import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tools.bench.context import Closed, Run, alternate
from tools.bench.loadgen import OpenLoopReport, Request
from tools.bench.results import Figure
from tools.bench.scenarios.duty_read import duty_requests
from tools.bench.scenarios.health import versus_bare
from tools.bench.targets import P3_CHECK_SHARE, P3_P99_MS, P3_VS_BARE

PROBE_RATE = 20.0


def check_request(run: Run, user_id: str) -> Request:
    """A /v1/check of the api policy for (127.0.0.1, user_id) on ratelimit-1."""
    body = json.dumps({"policy": "api", "ip": "127.0.0.1", "user_id": user_id}).encode()
    url = f"{run.instance_url('ratelimit')}/v1/check"
    return Request("POST", url, {"Content-Type": "application/json"}, body)


def _latency_line(label: str, report: OpenLoopReport) -> str:
    lat = report.latency_ms
    bad = report.answered - report.ok + sum(report.errors.values()) + report.unfinished
    return f"{label} at {report.rate:.0f}/s: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms" + (
        f" ({bad} failed)" if bad else ""
    )


def _throughput(run: Run) -> dict[str, list[Closed]]:
    check = check_request(run, "bench-p3")
    what = "POST /v1/check, 1 ratelimit instance"
    results = versus_bare(run, "P3", "check", check, what, P3_VS_BARE)
    run.add(
        Figure(
            key="P3 check CPU",
            what="ratelimit CPU per check (+ Redis CPU in JSON)",
            unit="ms/req",
            values=[closed.ms_per_request("ratelimit") for closed in results["check"]],
        )
    )
    return results


def _latency(run: Run, rate: float) -> dict[str, list[OpenLoopReport]]:
    check = check_request(run, "bench-p3-latency")
    bare = Request("GET", f"{run.bed.bare_url}/hello")

    def measure(label: str, request: Request, number: int) -> OpenLoopReport:
        report, _ = run.open_loop(request, rate)
        run.say(f"P3 round {number + 1}: " + _latency_line(label, report))
        return report

    results = alternate(
        run.settings.rounds,
        {
            "check": lambda number: measure("check", check, number),
            "bare": lambda number: measure("bare ", bare, number),
        },
    )
    for point, target in (("p50", None), ("p99", P3_P99_MS)):
        run.add(
            Figure(
                key=f"P3 check {point}",
                what=f"/v1/check {point} at half its max rate ({rate:.0f}/s), open loop",
                unit="ms",
                values=[report.latency_ms[point] for report in results["check"]],
                baseline="bare route, same rate",
                baseline_values=[report.latency_ms[point] for report in results["bare"]],
                target=target,
            )
        )
    return results


def _share(run: Run, api_rate: float) -> tuple[OpenLoopReport, OpenLoopReport]:
    duty = duty_requests(run)["direct"]
    probe = check_request(run, "bench-p3-probe")
    with ThreadPoolExecutor(max_workers=2) as pool:
        api_run = pool.submit(run.open_loop, duty, api_rate)
        probe_run = pool.submit(run.open_loop, probe, PROBE_RATE)
        api_report, probe_report = api_run.result()[0], probe_run.result()[0]
    run.say("P3 share: " + _latency_line("api duty read", api_report))
    run.say("P3 share: " + _latency_line("check probe", probe_report))
    return api_report, probe_report


def run_p3(run: Run, api_max_rps: float | None) -> None:
    """Measure P3 and add its figures; `api_max_rps` is P1's direct figure (None: measure)."""
    throughput = _throughput(run)
    half_check = statistics.mean(closed.rps for closed in throughput["check"]) / 2
    latency = _latency(run, half_check)
    if api_max_rps is None:
        api_max_rps = run.closed(duty_requests(run)["direct"], warmup=True).rps
    shares: list[float] = []
    pairs: list[dict[str, Any]] = []
    for _ in range(run.settings.rounds):
        api_report, probe_report = _share(run, api_max_rps / 2)
        shares.append(100 * probe_report.latency_ms["p50"] / api_report.latency_ms["p50"])
        pairs.append({"api": api_report.__dict__, "probe": probe_report.__dict__})
    run.add(
        Figure(
            key="P3 check share",
            what=f"limit check share of api p50 at {api_max_rps / 2:.0f} req/s (lower bound)",
            unit="%",
            values=shares,
            target=P3_CHECK_SHARE,
        )
    )
    check = check_request(run, "bench-p3-profile")
    run.profile("P3", ("ratelimit-1",), lambda: run.drive(check))  # Redis: C, not py-spy's
    run.details["P3"] = {
        "throughput": {name: [c.to_json() for c in runs] for name, runs in throughput.items()},
        "latency": {name: [r.__dict__ for r in reports] for name, reports in latency.items()},
        "share": pairs,
    }
