"""The cost of CPython's cyclic garbage collector in a service: its pauses as a metric, and the
start-up's objects taken out of its scans once the service has started."""

from __future__ import annotations

import gc
import time
from typing import Any

from nocturnal.shared.metrics import GC_PAUSES


class _PauseTimer:
    """A `gc.callbacks` entry: times each collection from its "start" to its "stop" phase."""

    def __init__(self) -> None:
        self._started = 0.0
        # The series of each generation looked up once: a collection must not pay for it.
        self._series = tuple(GC_PAUSES.labels(str(generation)) for generation in range(3))

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self._series[info["generation"]].observe(time.perf_counter() - self._started)


_PAUSE_TIMER = _PauseTimer()


def observe_gc_pauses() -> None:
    """Observe every garbage collection of this process from now on in the histogram
    `python_gc_pause_seconds{generation="0"|"1"|"2"}`: its pause in seconds, measured with
    `time.perf_counter` between the "start" and "stop" phases of `gc.callbacks` (CPython's
    hooks around each collection, automatic or `gc.collect()`). Installed once per process:
    calling it again adds nothing, so no collection is counted twice.
    """
    if _PAUSE_TIMER not in gc.callbacks:
        gc.callbacks.append(_PAUSE_TIMER)


def freeze_start_up_objects() -> int:
    """Take every object alive now out of the collector's scans (`gc.freeze`): call once the
    service has started (modules imported, app built, cleanup contexts open) and before it serves.

    A full (generation-2) collection scans every tracked object, and most of a started service's
    (about 100,000) are its modules, classes and functions, which live as long as the process;
    frozen, they sit in CPython's permanent generation and are never scanned again. A full
    collection runs first so that start-up garbage is freed rather than frozen. A frozen object
    is still freed by reference counting, but a reference cycle among frozen objects is never
    collected: freeze only once what is alive is meant to live as long as the process.
    Returns the number of objects frozen (`gc.get_freeze_count()`).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
