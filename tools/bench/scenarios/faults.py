"""FAULTS: the api's p99 while Redis hangs and while the ratelimit service hangs, against its p99
before (issue 10, item 2: within 2x, thanks to the circuit breakers).

Authenticated GET /api/duties/{id} on api-1 at a fixed rate (open loop). Each faulty run stops
one process of this bench with SIGSTOP half a second after the generator's warm-up, so the
measured window holds the moment the fault starts (the requests in flight then wait: for a
ratelimit hang, the api's hedge deadline, SRTT + 4 RTTVAR of the service's answers, after which
new checks decide at once; for a Redis hang, the ratelimit service's Redis timeout) and the rest
of the run spent on the fallback; SIGCONT at the end. The stack's warm-up below also gives the
api's hedge estimator its first samples: without them its deadline is the whole timeout. A stopped process
keeps its sockets open and answers nothing: a hang, not a refusal. The fault hits the bench's
own redis-server and ratelimit-1, nothing shared.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from tools.bench.context import Run, alternate
from tools.bench.loadgen import OpenLoopReport, Request
from tools.bench.results import Figure
from tools.bench.scenarios.duty_read import duty_requests
from tools.bench.targets import FAULT_P99

RATE = 100.0
# Twice the 10 s hang, also in quick runs: at 100/s a 10 s window's p99 is its 10th
# slowest answer, which one stall of this 2-core machine (50-90 ms, seen in "before" rounds and
# before a fault starts as often as during one) decided alone; over 20 s it takes two.
DURATION_S = 20.0
SETTLE_S = 3.0  # after a fault: the breakers' probes find the process again (1 s each)
RECOVERY_TRIES = 20  # trickles of load (each starting a probe) before giving up on a recovery


@contextlib.contextmanager
def _stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _checks(url: str) -> dict[str, str]:
    """The readiness checks at `url` ({} when it does not answer)."""
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:
            checks: dict[str, str] = json.load(response)["checks"]
    except urllib.error.HTTPError as exc:  # 503 while a check fails: the body names them all
        checks = json.load(exc)["checks"]
    except OSError:
        return {}
    return checks


def _recovered(run: Run, duty: Request) -> None:
    """Wait until the api checks limits on the ratelimit service again and ratelimit on Redis
    (their breakers closed), so that no run starts with a breaker still open from the last
    fault: it would take the fault's start for free. Only a request starts a breaker's
    probe, so a trickle of load runs between the looks."""
    api, ratelimit = run.instance_url("api"), run.instance_url("ratelimit")
    for _ in range(RECOVERY_TRIES):
        if _checks(api).get("ratelimit") == "ok" and _checks(ratelimit).get("redis") == "ok":
            return
        run.open_loop(duty, 10.0, duration_s=0.5)
    raise RuntimeError("the api's ratelimit breaker or ratelimit's Redis breaker stayed open")


def _line(label: str, report: OpenLoopReport) -> str:
    lat = report.latency_ms
    bad = report.answered - report.ok + sum(report.errors.values()) + report.unfinished
    slowest = ", ".join(f"{ms:.0f} ms at {at:.2f} s" for at, ms, _ in report.slowest[:5])
    return f"{label:15s} p50 {lat['p50']:6.2f} ms, p99 {lat['p99']:7.2f} ms; slowest {slowest}" + (
        f" ({bad} not 2xx: {report.statuses} {report.errors})" if bad else ""
    )


def run_faults(run: Run) -> None:
    """Measure the api's latency before, during a Redis hang and during a ratelimit hang."""
    duty = duty_requests(run)["direct"]
    assert run.bed.redis.child is not None, "the bench starts its own Redis"
    pids = {
        "redis hang": run.bed.redis.child.proc.pid,
        "ratelimit hang": run.instance_pid("ratelimit"),
    }

    def measure(label: str, number: int) -> OpenLoopReport:
        with ThreadPoolExecutor(max_workers=1) as pool:
            loading = pool.submit(run.open_loop, duty, RATE, duration_s=DURATION_S)
            if label in pids:
                time.sleep(1.5)  # the generator's 1 s warm-up, then half a second of load
                with _stopped(pids[label]):
                    report = loading.result()[0]
            else:
                report = loading.result()[0]
        run.say(f"FAULTS round {number + 1}: " + _line(label, report))
        time.sleep(SETTLE_S)
        _recovered(run, duty)
        return report

    run.open_loop(
        duty, RATE, duration_s=3.0
    )  # warm-up: the first run of a fresh stack is not "before"
    results = alternate(
        run.settings.rounds,
        {name: functools.partial(measure, name) for name in ("before", *pids)},
    )
    before = [report.latency_ms["p99"] for report in results["before"]]
    for name in pids:
        run.add(
            Figure(
                key=f"FAULTS {name} p99",
                what=f"api duty read p99 at {RATE:.0f}/s, {name} from 0.5 s into the run",
                unit="ms",
                values=[report.latency_ms["p99"] for report in results[name]],
                baseline="p99 before the fault",
                baseline_values=before,
                target=FAULT_P99,
            )
        )
    run.details["FAULTS"] = {
        name: [report.__dict__ for report in reports] for name, reports in results.items()
    }
