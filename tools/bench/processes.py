"""What the measured processes cost: CPU seconds per component over a run, and RSS over time.

CPU time, unlike wall-clock throughput, is hardly disturbed by the other work on a shared
machine: "CPU ms per request" of each component is the steadiest figure the bench reports, and
the busiest component names the resource that saturates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

SINGLE_CORE_SATURATED = 0.9
"""A one-event-loop process busy this share of one core is saturated: it cannot go faster."""


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants (e.g. nginx's workers)."""
    total = 0.0
    for process in _tree(pid):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` alone, in bytes (0 when it is gone)."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


@dataclass
class CpuUse:
    """CPU seconds each component used over `wall_s` seconds of wall-clock time."""

    wall_s: float
    seconds: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # share of all cores busy (0..1), every process on the machine

    def cores(self, name: str) -> float:
        """Average cores `name` kept busy (1.0 = one core all the time)."""
        return self.seconds.get(name, 0.0) / self.wall_s if self.wall_s else 0.0

    def ms_per(self, name: str, requests: int) -> float:
        """CPU milliseconds `name` spent per request."""
        return 1000 * self.seconds.get(name, 0.0) / requests if requests else float("nan")

    def busiest(self) -> str:
        """The component that used the most CPU."""
        return max(self.seconds, key=lambda name: self.seconds[name], default="")

    def saturating(self, cores: int) -> str:
        """Names what limited the run: a saturated single-loop process, or the machine's cores."""
        name = self.busiest()
        if name and self.cores(name) >= SINGLE_CORE_SATURATED:
            return f"{name} (one event loop, {self.cores(name):.0%} of a core)"
        if self.machine_busy >= 0.9:
            return (
                f"CPU contention: all {cores} cores {self.machine_busy:.0%} busy; "
                f"busiest {name} ({self.cores(name):.0%} of a core)"
            )
        return f"none clearly (machine {self.machine_busy:.0%} busy; busiest {name})"

    def to_json(self) -> dict[str, object]:
        return {
            "wall_s": round(self.wall_s, 3),
            "machine_busy": round(self.machine_busy, 3),
            "cpu_s": {name: round(value, 3) for name, value in sorted(self.seconds.items())},
        }


@contextmanager
def cpu_use(pids: Mapping[str, int]) -> Iterator[CpuUse]:
    """Measure the CPU seconds of each named process tree over the `with` block."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    psutil.cpu_percent(percpu=False)  # starts the machine-wide interval
    started = time.monotonic()
    use = CpuUse(wall_s=0.0)
    yield use
    use.wall_s = time.monotonic() - started
    use.machine_busy = psutil.cpu_percent(percpu=False) / 100
    use.seconds = {name: max(0.0, cpu_seconds(pid) - before[name]) for name, pid in pids.items()}


def _thread_seconds(pid: int) -> dict[int, float]:
    try:
        return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}
    except psutil.Error:
        return {}


@dataclass
class ThreadSplit:
    """CPU seconds of one process's main thread (an asyncio service's event loop) and of its
    other threads (worker pools: argon2's, the default executor's) over a `with` block."""

    main_s: float = 0.0
    others_s: float = 0.0
    threads: int = 0  # other threads that used CPU

    def to_json(self) -> dict[str, float]:
        return {
            "main_thread_s": round(self.main_s, 3),
            "other_threads_s": round(self.others_s, 3),
            "other_threads": self.threads,
        }


@contextmanager
def thread_split(pid: int) -> Iterator[ThreadSplit]:
    """Split the CPU time of `pid` between its main thread (thread id = pid) and the others.

    Threads that ended during the block are missed (their time is gone with them)."""
    before = _thread_seconds(pid)
    split = ThreadSplit()
    yield split
    for tid, seconds in _thread_seconds(pid).items():
        used = seconds - before.get(tid, 0.0)
        if tid == pid:
            split.main_s = used
        elif used > 0:
            split.others_s += used
            split.threads += 1


@dataclass
class RssTrace:
    """RSS of one process sampled every `interval_s` seconds (bytes)."""

    interval_s: float
    samples: list[int] = field(default_factory=list)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    @property
    def first(self) -> int:
        return self.samples[0] if self.samples else 0

    def drift_second_half(self) -> int:
        """RSS at the end minus RSS at the middle of the trace (growth while the load went on)."""
        if len(self.samples) < 2:
            return 0
        return self.samples[-1] - self.samples[len(self.samples) // 2]


@contextmanager
def rss_trace(pid: int, interval_s: float = 0.05) -> Iterator[RssTrace]:
    """Sample the RSS of `pid` from a background thread while the `with` block runs."""
    trace = RssTrace(interval_s)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            trace.samples.append(rss_bytes(pid))
            stop.wait(interval_s)

    thread = threading.Thread(target=sample, name="rss-trace", daemon=True)
    thread.start()
    try:
        yield trace
    finally:
        stop.set()
        thread.join()
        trace.samples.append(rss_bytes(pid))
