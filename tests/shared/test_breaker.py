"""The circuit breaker's state machine, driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from nocturnal.shared.breaker import BreakerOpen, BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(name: str, clock: FakeClock, threshold: int = 2, open_s: float = 5.0) -> CircuitBreaker:
    return CircuitBreaker(name, failure_threshold=threshold, open_s=open_s, clock=clock)


def test_opens_after_the_threshold_of_consecutive_failures_only() -> None:
    breaker = make("t-open", FakeClock(), threshold=3)
    breaker.failure()
    breaker.failure()
    breaker.success()  # a success in between resets the count
    breaker.failure()
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_after_open_s_exactly_one_half_open_probe_passes() -> None:
    clock = FakeClock()
    breaker = make("t-probe", clock)
    breaker.failure()
    breaker.failure()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # the probe is in flight: everyone else decides locally


def test_a_successful_probe_closes_and_a_failed_one_reopens() -> None:
    clock = FakeClock()
    breaker = make("t-recover", clock)
    breaker.failure()
    breaker.failure()
    clock.now += 5
    assert breaker.allow()
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_a_probe_that_never_answers_lets_another_probe_through_after_open_s() -> None:
    clock = FakeClock()
    breaker = make("t-lost-probe", clock)
    breaker.failure()
    breaker.failure()
    clock.now += 5
    assert breaker.allow()
    clock.now += 4
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_a_released_probe_frees_the_slot_at_once() -> None:
    clock = FakeClock()
    breaker = make("t-release", clock)
    breaker.failure()
    breaker.failure()
    clock.now += 5
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_time_not_closed_is_measured_and_exported() -> None:
    clock = FakeClock()
    breaker = make("t-seconds", clock)
    breaker.failure()
    breaker.failure()
    clock.now += 7
    assert breaker.allow()  # half-open probe
    clock.now += 1
    breaker.success()
    clock.now += 100  # closed again: not counted
    assert breaker.not_closed_s == pytest.approx(8)
    exported = REGISTRY.get_sample_value(
        "circuit_breaker_not_closed_seconds_total", {"breaker": "t-seconds"}
    )
    assert exported == pytest.approx(8)
    assert REGISTRY.get_sample_value("circuit_breaker_state", {"breaker": "t-seconds"}) == 0


def test_one_log_line_per_state_change_not_per_call() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "t-logs",
        failure_threshold=1,
        open_s=5,
        clock=clock,
        opened_message="dependency unreachable",
        closed_message="dependency reachable again",
    )
    with capture_logs() as logs:
        breaker.failure()
        for _ in range(50):
            assert not breaker.allow()
        clock.now += 5
        assert breaker.allow()
        breaker.success()
        for _ in range(50):
            assert breaker.allow()
            breaker.success()
    loud = [(e["log_level"], e["event"]) for e in logs if e["log_level"] != "debug"]
    assert loud == [("warning", "dependency unreachable"), ("info", "dependency reachable again")]


async def test_guard_counts_failures_and_raises_breaker_open_when_open() -> None:
    breaker = make("t-guard", FakeClock(), threshold=1)

    async def boom() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await breaker.call(boom)
    with pytest.raises(BreakerOpen):
        await breaker.call(boom)


async def test_cancellation_is_not_a_failure() -> None:
    breaker = make("t-cancel", FakeClock(), threshold=1)

    async def hang() -> None:
        await asyncio.sleep(10)

    task = asyncio.ensure_future(breaker.call(hang))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is BreakerState.CLOSED


def test_rejects_a_meaningless_configuration() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("t-bad", failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker("t-bad", open_s=0)


async def test_with_a_probe_no_caller_waits_the_probe_runs_in_the_background() -> None:
    clock = FakeClock()
    answers = asyncio.Queue[bool]()
    probes = 0

    async def probe() -> bool:
        nonlocal probes
        probes += 1
        return await answers.get()

    breaker = CircuitBreaker("t-bg", failure_threshold=1, open_s=5, clock=clock, probe=probe)
    breaker.failure()
    clock.now += 5
    assert not breaker.allow()  # the caller decides on its fallback; the probe has started
    assert not breaker.allow()
    await asyncio.sleep(0)
    assert (probes, breaker.state) == (1, BreakerState.HALF_OPEN)
    await answers.put(False)
    await asyncio.sleep(0.01)
    assert breaker.state is BreakerState.OPEN
    clock.now += 5
    assert not breaker.allow()
    await answers.put(True)
    await asyncio.sleep(0.01)
    assert (probes, breaker.state) == (2, BreakerState.CLOSED)
    assert breaker.allow()


async def test_a_probe_that_raises_is_a_failed_probe() -> None:
    clock = FakeClock()

    async def probe() -> bool:
        raise ConnectionError("still down")

    breaker = CircuitBreaker("t-bg-raise", failure_threshold=1, open_s=5, clock=clock, probe=probe)
    breaker.failure()
    clock.now += 5
    assert not breaker.allow()
    await asyncio.sleep(0.01)
    assert breaker.state is BreakerState.OPEN
