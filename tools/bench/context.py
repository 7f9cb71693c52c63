"""One run's shared state and its measuring primitives: closed-loop and open-loop runs, each
with the CPU every component used, progress lines, and the figures collected so far."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tools.bench.accounts import Account
from tools.bench.loadgen import OpenLoopJob, OpenLoopReport, Request, run_open_loop
from tools.bench.processes import CpuUse, cpu_use
from tools.bench.profiling import recording, render
from tools.bench.results import Figure
from tools.bench.seed_stack import SeedStack
from tools.bench.settings import BenchSettings
from tools.bench.testbed import Testbed, stack_pids
from tools.bench.wrk import WrkResult, run_wrk
from tools.devstack import Stack

T = TypeVar("T")


@dataclass
class Closed:
    """A wrk run and what it cost each component."""

    wrk: WrkResult
    cpu: CpuUse

    @property
    def rps(self) -> float:
        return self.wrk.rps

    def ms_per_request(self, component: str) -> float:
        """CPU ms per request of every process whose name starts with `component`."""
        seconds = sum(s for name, s in self.cpu.seconds.items() if name.startswith(component))
        return 1000 * seconds / self.wrk.requests if self.wrk.requests else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "requests": self.wrk.requests,
            "non_2xx": self.wrk.non_2xx,
            "socket_errors": self.wrk.socket_errors,
            "closed_loop_p50_ms": self.wrk.closed_p50_ms,
            "closed_loop_p99_ms": self.wrk.closed_p99_ms,
            **self.cpu.to_json(),
        }


@dataclass
class Run:
    """Everything the scenarios share during one `make bench`."""

    settings: BenchSettings
    bed: Testbed
    stack: Stack
    admin: Account
    doctor: Account
    duty_id: str
    seed: SeedStack | None
    seed_note: str | None
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    profile_dir: Path | None = None  # where py-spy's stacks go (BENCH_PROFILE), else None

    def say(self, message: str) -> None:
        """A progress line: elapsed time, load average, message."""
        elapsed = time.monotonic() - self.started
        load = os.getloadavg()[0]
        print(f"bench [{elapsed:5.0f} s, load {load:4.2f}] {message}", flush=True)

    def instance_url(self, service: str, number: int = 1) -> str:
        name = f"{service}-{number}"
        return next(i.url for i in self.stack.instances if i.name == name)

    def instance_pid(self, service: str, number: int = 1) -> int:
        name = f"{service}-{number}"
        return next(i.child.proc.pid for i in self.stack.instances if i.name == name)

    def pids(self) -> dict[str, int]:
        """Every process the bench started, by component name."""
        pids = self.bed.server_pids() | stack_pids(self.stack)
        if self.seed is not None:
            pids["node"] = self.seed.child.proc.pid
        return pids

    def bearer(self, account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.token()}"}

    def closed(
        self, request: Request, *, connections: int | None = None, warmup: bool = False
    ) -> Closed:
        """wrk against `request` for the configured duration (after a warm-up when asked)."""
        conns = connections or self.settings.connections
        work = self.settings.run_dir / "work"
        if warmup:
            run_wrk(request, duration_s=self.settings.warmup_s, connections=conns, work_dir=work)
        with cpu_use(self.pids()) as cpu:
            result = run_wrk(
                request, duration_s=self.settings.duration_s, connections=conns, work_dir=work
            )
        return Closed(result, cpu)

    def drive(self, request: Request, *, connections: int | None = None) -> WrkResult:
        """wrk on `request` for the profile's duration: load to profile, not a measurement."""
        return run_wrk(
            request,
            duration_s=self.settings.profile_s,
            connections=connections or self.settings.connections,
            work_dir=self.settings.run_dir / "work",
        )

    def open_loop(
        self, request: Request, rate: float, *, duration_s: float | None = None, **job: Any
    ) -> tuple[OpenLoopReport, CpuUse]:
        """The open-loop generator at `rate` requests/s (after its one-second warm-up)."""
        spec = OpenLoopJob(
            request, rate=rate, duration_s=duration_s or self.settings.open_loop_s, **job
        )
        with cpu_use(self.pids()) as cpu:
            report = run_open_loop(spec)
        return report, cpu

    @contextmanager
    def profiling(self, scenario: str, targets: Mapping[str, int]) -> Iterator[None]:
        """py-spy on `targets` (name -> pid) while the block runs, when the run profiles
        (BENCH_PROFILE); the summaries printed and kept under details["profiles"][scenario].
        Run it around a load of its own, never around a measured round."""
        if self.profile_dir is None:
            yield
            return
        self.say(f"{scenario} profile: py-spy on {', '.join(targets)}")
        with recording(targets, self.profile_dir, scenario) as summaries:
            yield
        for name, summary in summaries.items():
            print(render(f"{scenario}: {name} process", summary), flush=True)
        profiles = self.details.setdefault("profiles", {"folder": str(self.profile_dir)})
        profiles.setdefault(scenario, {}).update(summaries)

    def profile(self, scenario: str, names: tuple[str, ...], load: Callable[[], object]) -> None:
        """`load()` under py-spy on the named components (see `pids`), when the run profiles."""
        if self.profile_dir is None:
            return
        pids = self.pids()
        with self.profiling(scenario, {name: pids[name] for name in names}):
            load()

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure


def alternate(rounds: int, runs: Mapping[str, Callable[[int], T]]) -> dict[str, list[T]]:
    """Run each named run once per round, in order: A, B, A, B. Results by name, per round."""
    results: dict[str, list[T]] = {name: [] for name in runs}
    for number in range(rounds):
        for name, run in runs.items():
            results[name].append(run(number))
    return results
