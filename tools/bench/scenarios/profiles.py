"""Profiles (`--profile`): py-spy on the api and ratelimit processes under P1's load, and on
ratelimit under P3's, in rounds of their own (never inside a measured round)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tools.bench.context import Run
from tools.bench.loadgen import Request
from tools.bench.profiling import render, start_recording, summarise
from tools.bench.scenarios.duty_read import duty_requests
from tools.bench.scenarios.ratelimit_check import check_request
from tools.bench.wrk import run_wrk


def _profile(
    run: Run, label: str, request: Request, targets: dict[str, int], out: Path
) -> dict[str, Any]:
    seconds = run.settings.profile_s
    paths = {name: out / f"{label}-{name}.collapsed.txt" for name in targets}
    recorders = {
        name: start_recording(pid, seconds + 1, paths[name]) for name, pid in targets.items()
    }
    time.sleep(0.5)  # py-spy attached before the load starts
    run_wrk(
        request,
        duration_s=seconds,
        connections=run.settings.connections,
        work_dir=run.settings.run_dir / "work",
    )
    summaries = {}
    for name, recorder in recorders.items():
        _, error = recorder.communicate(timeout=seconds + 60)
        if recorder.returncode != 0 or not paths[name].exists():
            run.say(f"profile {label}/{name}: py-spy failed: {error.decode()[-500:]}")
            continue
        summaries[name] = summarise(paths[name]) | {"file": str(paths[name])}
        print(render(f"{label}: {name} process", summaries[name]), flush=True)
    return summaries


def run_profiles(run: Run, stamp: str) -> None:
    """Record and summarise the profiles; the collapsed stacks go beside the results."""
    out = run.settings.out_dir / f"profiles-{stamp}"
    api, ratelimit = run.instance_pid("api"), run.instance_pid("ratelimit")
    run.say(f"profiles: py-spy on api and ratelimit under P1's load ({run.settings.profile_s:g} s)")
    p1 = _profile(
        run, "P1", duty_requests(run)["direct"], {"api": api, "ratelimit": ratelimit}, out
    )
    run.say(f"profiles: py-spy on ratelimit under P3's load ({run.settings.profile_s:g} s)")
    p3 = _profile(run, "P3", check_request(run, "bench-profile"), {"ratelimit": ratelimit}, out)
    run.details["profiles"] = {"P1": p1, "P3": p3, "folder": str(out)}
