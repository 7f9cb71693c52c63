"""P7: logins per second per core at the configured argon2 cost, and twice that rate.

Logins are those answered 2xx, spread over ACCOUNTS accounts (one account would make its user
document, written by every grant transaction, the hot spot). Per core = logins per CPU-second
of the auth process (argon2 runs in its worker threads, so the process may use both cores; CPU
time divides that out and is little disturbed by other load); that CPU is split between the
event loop's thread and the others (the argon2 pool). Baseline: argon2-cffi verifying the same
kind of hash in the bench, per CPU-second, in one thread and in as many threads as the
service's hasher has.
Overload: the open-loop generator at twice the rate all cores could serve at the measured cost
per login (or twice the best measured rate, if higher); the service must shed with
503 + Retry-After, keep every answer within its hasher wait (no queue that grows), and keep its
memory flat.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import argon2

from nocturnal.auth.settings import AuthSettings
from tools.bench.accounts import Account, register_many
from tools.bench.context import Closed, Run, alternate
from tools.bench.loadgen import OpenLoopReport, Request
from tools.bench.processes import RssTrace, ThreadSplit, rss_trace, thread_split
from tools.bench.results import Figure
from tools.bench.settings import MiB
from tools.bench.targets import OVERLOAD_SHED, P7_PER_CORE
from tools.bench.wrk import run_wrk

ACCOUNTS = 128
LOGIN_CONNECTIONS = 12  # the default hasher's places (4 hashing + 8 waiting): all busy, none shed
RAW_SECONDS = 2.0
FLAT_RSS_MIB = 16


@dataclass(frozen=True)
class RawArgon2:
    """argon2id verifications in `threads` threads: per CPU-second and per wall-second."""

    threads: int
    per_cpu_s: float
    per_wall_s: float


def raw_verifies(settings: AuthSettings, threads: int = 1) -> RawArgon2:
    """argon2id verifications at the service's parameters in `threads` threads of the bench
    (argon2-cffi releases the GIL while hashing) for RAW_SECONDS."""
    hasher = argon2.PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        type=argon2.Type.ID,
    )
    password = "correct horse battery staple"
    stored = hasher.hash(password)
    counts: list[tuple[int, float]] = []
    deadline = time.monotonic() + RAW_SECONDS

    def verify() -> None:
        started, count = time.thread_time(), 0
        while time.monotonic() < deadline:
            hasher.verify(stored, password)
            count += 1
        counts.append((count, time.thread_time() - started))

    started = time.monotonic()
    workers = [threading.Thread(target=verify) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.monotonic() - started
    total, cpu = sum(n for n, _ in counts), sum(s for _, s in counts)
    return RawArgon2(threads, total / max(cpu, 1e-9), total / wall)


@dataclass(frozen=True)
class LoginRound:
    """One closed-loop login run and how the auth process's CPU was split."""

    closed: Closed
    split: ThreadSplit

    @property
    def per_cpu_s(self) -> float:
        """Logins (2xx) per CPU-second of the auth process."""
        return self.closed.wrk.ok / max(self.closed.cpu.seconds.get("auth-1", 0.0), 1e-9)

    def ms_per_login(self, seconds: float) -> float:
        return 1000 * seconds / self.closed.wrk.ok if self.closed.wrk.ok else float("nan")

    def to_json(self) -> dict[str, Any]:
        return self.closed.to_json() | {
            "logins_2xx": self.closed.wrk.ok,
            "per_cpu_s": round(self.per_cpu_s, 2),
            **self.split.to_json(),
        }


def _overload_verdict(report: OpenLoopReport, trace: RssTrace, wait_s: float) -> tuple[float, str]:
    shed = report.statuses.get("503", 0)
    with_retry = report.with_header.get("503", 0)
    other = sum(n for status, n in report.statuses.items() if status not in {"200", "503"})
    failures = other + sum(report.errors.values()) + report.unfinished
    bounded = report.latency_ms["max"] <= (wait_s + 1.0) * 1000
    drift_mib = trace.drift_second_half() / MiB
    checks = {
        f"503s with Retry-After {with_retry}/{shed}": shed > 0 and with_retry == shed,
        f"other failures {failures}": failures == 0,
        f"max latency {report.latency_ms['max'] / 1000:.2f} s ≤ wait {wait_s:g} s + 1 s": bounded,
        f"RSS drift in 2nd half {drift_mib:+.1f} MiB ≤ {FLAT_RSS_MIB}": drift_mib <= FLAT_RSS_MIB,
    }
    note = "; ".join(f"{'ok' if passed else 'NO'}: {text}" for text, passed in checks.items())
    return (1.0 if all(checks.values()) else 0.0), note


def login_request(run: Run, accounts: list[Account]) -> Request:
    """POST /api/auth/login on auth-1, each request signing in the next of `accounts`."""
    bodies = tuple(json.dumps(account.credentials).encode() for account in accounts)
    url = f"{run.instance_url('auth')}/api/auth/login"
    return Request("POST", url, {"Content-Type": "application/json"}, bodies=bodies)


def _figures(
    run: Run, settings: AuthSettings, logins: list[LoginRound], raw: list[RawArgon2]
) -> None:
    cost = (
        f"argon2id m={settings.argon2_memory_kib} KiB, t={settings.argon2_time_cost}, "
        f"p={settings.argon2_parallelism}"
    )
    run.add(
        Figure(
            key="P7 per core",
            what=f"logins (2xx) per auth CPU-second, {ACCOUNTS} accounts ({cost})",
            unit="logins/s",
            values=[r.per_cpu_s for r in logins],
            baseline="raw argon2-cffi verify, 1 thread",
            baseline_values=[r.per_cpu_s for r in raw],
            target=P7_PER_CORE,
            note=_refused(logins),
        )
    )
    run.add(
        Figure(
            key="P7 wall",
            what=f"logins (2xx)/s, {LOGIN_CONNECTIONS} connections, 1 auth instance",
            unit="logins/s",
            values=[r.closed.wrk.ok / r.closed.wrk.duration_s for r in logins],
        )
    )
    run.add(
        Figure(
            key="P7 hash CPU",
            what="auth CPU per login outside the main thread (the argon2 pool)",
            unit="ms/login",
            values=[r.ms_per_login(r.split.others_s) for r in logins],
            baseline="one raw verify",
            baseline_values=[1000 / r.per_cpu_s for r in raw],
        )
    )
    run.add(
        Figure(
            key="P7 loop CPU",
            what="auth CPU per login in the event loop's thread (HTTP, rate limit, DB, JWT)",
            unit="ms/login",
            values=[r.ms_per_login(r.split.main_s) for r in logins],
        )
    )


def _refused(logins: list[LoginRound]) -> str:
    """The answers of the closed-loop rounds that were not 2xx (not counted as logins; wrk
    counts them without their status: with a full argon2 queue, auth sheds with 503)."""
    refused = [r.closed.wrk.non_2xx for r in logins]
    if not any(refused):
        return ""
    answers = [r.closed.wrk.requests for r in logins]
    per_round = ", ".join(f"{n} of {total}" for n, total in zip(refused, answers, strict=True))
    return f"answers not 2xx per round, not counted: {per_round}"


def run_p7(run: Run) -> None:
    """Measure P7 and add its figures."""
    settings = AuthSettings()
    auth_pid = run.instance_pid("auth")
    login = login_request(run, register_many(run.stack.base_url, "doctor", ACCOUNTS))
    work = run.settings.run_dir / "work"
    run_wrk(login, duration_s=run.settings.warmup_s, connections=LOGIN_CONNECTIONS, work_dir=work)

    def measure_login(number: int) -> LoginRound:
        with thread_split(auth_pid) as split:
            closed = run.closed(login, connections=LOGIN_CONNECTIONS)
        result = LoginRound(closed, split)
        run.say(
            f"P7 round {number + 1}: {closed.wrk.ok / closed.wrk.duration_s:5.1f} logins/s, "
            f"{result.per_cpu_s:5.1f} per auth CPU-second ({closed.wrk.non_2xx} non-2xx); "
            f"ms per login: loop {result.ms_per_login(split.main_s):.1f}, "
            f"other threads {result.ms_per_login(split.others_s):.1f}"
        )
        return result

    def measure_raw(number: int) -> RawArgon2:
        rate = raw_verifies(settings)
        run.say(f"P7 round {number + 1}: raw argon2 {rate.per_cpu_s:5.1f} verifies per CPU-second")
        return rate

    results = alternate(run.settings.rounds, {"login": measure_login, "raw": measure_raw})
    logins: list[LoginRound] = results["login"]  # type: ignore[assignment]
    raw: list[RawArgon2] = results["raw"]  # type: ignore[assignment]
    pool = raw_verifies(settings, settings.password_hash_concurrency)
    run.say(
        f"P7 raw argon2 in {pool.threads} threads: {pool.per_wall_s:.1f} verifies/s, "
        f"{pool.per_cpu_s:.1f} per CPU-second (1 thread: {raw[-1].per_wall_s:.1f}/s)"
    )
    _figures(run, settings, logins, raw)
    # Twice what the cores could serve at the measured cost, or twice the best measured rate if
    # higher: on a shared machine the measured rate is what other work left, not the capacity.
    best = max(r.closed.wrk.ok / r.closed.wrk.duration_s for r in logins)
    capacity = max(best, (os.cpu_count() or 1) * max(r.per_cpu_s for r in logins))
    rate = 2 * capacity
    with rss_trace(auth_pid, interval_s=0.1) as trace:
        report, overload_cpu = run.open_loop(login, rate, connections=4096, timeout_s=30.0)
    value, note = _overload_verdict(report, trace, settings.password_hash_wait_s)
    run.say(f"P7 overload at {rate:.0f}/s: answers {report.statuses}; {note}")
    run.add(
        Figure(
            key="P7 overload",
            what=f"at 2x ({rate:.0f} logins/s): shed, bounded, flat",
            unit="yes=1",
            values=[value],
            target=OVERLOAD_SHED,
            note=note,
        )
    )
    run.details["P7"] = {
        "accounts": ACCOUNTS,
        "login": [r.to_json() for r in logins],
        "raw_1_thread": [r.__dict__ for r in raw],
        "raw_pool": pool.__dict__,
        "overload": report.__dict__ | overload_cpu.to_json(),
        "overload_rss_mib": [round(sample / MiB, 1) for sample in trace.samples],
    }
    run.profile("P7", ("auth-1", "mongo"), lambda: run.drive(login, connections=LOGIN_CONNECTIONS))
